import CFFmpeg
import Media
import Transcode

/// Owns an output `AVFormatContext`: writes renditions' tracks and packets to a file whose container
/// follows the extension (`.mp4`, `.mkv`). For tests and the benchmark; the product's muxer is Packager.
public final class FileSink {
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private let packet: Packet
    private let tracks: [TrackInfo]
    private var finished = false

    public init(path: String, tracks: [TrackInfo]) throws(LibavError) {
        self.tracks = tracks
        packet = try Packet()
        var context: UnsafeMutablePointer<AVFormatContext>?
        try LibavError.check(avformat_alloc_output_context2(&context, nil, nil, path), "avformat_alloc_output_context2(\(path))")
        self.context = context
        guard let context else { throw LibavError("avformat_alloc_output_context2(\(path))", code: LibavError.outOfMemory) }
        do throws(LibavError) {
            for track in tracks {
                guard let stream = avformat_new_stream(context, nil), let parameters = stream.pointee.codecpar else {
                    throw LibavError("avformat_new_stream", code: LibavError.outOfMemory)
                }
                parameters.pointee.codec_type = track.kind == .video ? AVMEDIA_TYPE_VIDEO : AVMEDIA_TYPE_AUDIO
                parameters.pointee.codec_id = track.codec.avCodecID ?? AV_CODEC_ID_NONE
                if let configuration = track.configuration, let (data, size) = try allocateExtradata(configuration.extradata) {
                    parameters.pointee.extradata = data
                    parameters.pointee.extradata_size = size
                }
                if track.kind == .video {
                    parameters.pointee.width = Int32(clamping: track.width ?? 0)
                    parameters.pointee.height = Int32(clamping: track.height ?? 0)
                    parameters.pointee.format = AV_PIX_FMT_YUV420P.rawValue
                    if let rate = track.frameRate { stream.pointee.avg_frame_rate = av_d2q(rate, 100_000) }
                } else {
                    parameters.pointee.sample_rate = Int32(clamping: track.sampleRate ?? 48_000)
                    av_channel_layout_default(&parameters.pointee.ch_layout, Int32(clamping: track.channels ?? 2))
                    if track.codec == .aac { parameters.pointee.frame_size = 1024 }
                }
                stream.pointee.time_base = track.timebase.rational
            }
            if context.pointee.oformat.pointee.flags & AVFMT_NOFILE == 0 {
                try LibavError.check(avio_open(&context.pointee.pb, path, AVIO_FLAG_WRITE), "avio_open(\(path))")
            }
            try LibavError.check(avformat_write_header(context, nil), "avformat_write_header(\(path))")
        } catch {
            if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
            avformat_free_context(context)
            self.context = nil
            throw error
        }
    }

    deinit {
        guard let context else { return }
        if !finished, context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
    }

    /// Writes `media` to the track at `index` (an index into the `tracks` given to `init`).
    public func write(_ media: MediaPacket, track index: Int) throws(LibavError) {
        guard let context, index >= 0, index < tracks.count, let stream = context.pointee.streams[index] else {
            throw LibavError("FileSink.write(track \(index))", code: streamd_averror(22))
        }
        try packet.load(media)
        packet.pointer.pointee.stream_index = Int32(index)
        av_packet_rescale_ts(packet.pointer, media.timebase.rational, stream.pointee.time_base)
        let code = av_interleaved_write_frame(context, packet.pointer)
        packet.unref()
        try LibavError.check(code, "av_interleaved_write_frame")
    }

    public func finish() throws(LibavError) {
        guard let context, !finished else { return }
        finished = true
        try LibavError.check(av_write_trailer(context), "av_write_trailer")
        if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
    }
}
