import CFFmpeg
import Media

/// Owns a decoding `AVCodecContext` for one source track.
final class Decoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private let packet: Packet
    let track: TrackInfo

    init(track: TrackInfo, threads: Int = 1) throws(TranscodeError) {
        guard let id = track.codec.avCodecID, let codec = avcodec_find_decoder(id) else {
            throw .unsupportedCodec(track.kind, track.codec.description)
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw .libav(LibavError("avcodec_alloc_context3", code: LibavError.outOfMemory))
        }
        self.context = context
        self.track = track
        do throws(LibavError) {
            packet = try Packet()
            if let configuration = track.configuration, let (data, size) = try allocateExtradata(configuration.extradata) {
                context.pointee.extradata = data
                context.pointee.extradata_size = size
            }
            context.pointee.pkt_timebase = track.timebase.rational
            context.pointee.time_base = track.timebase.rational
            if track.kind == .video {
                context.pointee.width = Int32(clamping: track.width ?? 0)
                context.pointee.height = Int32(clamping: track.height ?? 0)
            } else {
                if let rate = track.sampleRate { context.pointee.sample_rate = Int32(clamping: rate) }
                if let channels = track.channels, channels > 0 {
                    av_channel_layout_default(&context.pointee.ch_layout, Int32(clamping: channels))
                }
            }
            context.pointee.thread_count = Int32(clamping: threads)
            try LibavError.check(avcodec_open2(context, codec, nil), "avcodec_open2(\(track.codec) decoder)")
        } catch {
            avcodec_free_context(&self.context)
            throw .libav(error)
        }
    }

    deinit { avcodec_free_context(&context) }

    /// Sends one packet, or `nil` to drain. Call `receive()` until it returns `nil` after each send.
    func send(_ media: MediaPacket?) throws(LibavError) {
        guard let context else { return }
        let code: Int32
        if let media {
            try packet.load(media)
            code = avcodec_send_packet(context, packet.pointer)
            packet.unref()
        } else {
            code = avcodec_send_packet(context, nil)
        }
        if code < 0, code != streamd_averror_eof() {
            throw LibavError("avcodec_send_packet(\(track.codec))", code: code)
        }
    }

    /// The next decoded frame with `pts` set to the best-effort timestamp, or `nil` when the decoder
    /// needs more input (or is drained).
    func receive() throws(LibavError) -> Frame? {
        guard let context else { return nil }
        let frame = try Frame()
        let code = avcodec_receive_frame(context, frame.pointer)
        if code == streamd_averror_eagain() || code == streamd_averror_eof() { return nil }
        try LibavError.check(code, "avcodec_receive_frame(\(track.codec))")
        frame.pointer.pointee.pts = frame.pointer.pointee.best_effort_timestamp
        return frame
    }

    /// Drops buffered state (after a discontinuity has been drained).
    func reset() {
        guard let context else { return }
        avcodec_flush_buffers(context)
    }
}
