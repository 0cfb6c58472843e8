import CFFmpeg

/// libav writes its own chatter (x264's statistics, every option) to stderr; keep only errors.
package enum LibavLog {
    package static let quiet: Void = av_log_set_level(AV_LOG_ERROR)
}
