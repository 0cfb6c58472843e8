import CFFmpeg
import Media
import Transcode

/// Owns an `AVFormatContext` reading a media file: its best video and audio stream as tracks and
/// packets (H.264 keeps the container's AVCC form, which MP4, Matroska and FLV use).
final class Demuxer {
    private var context: UnsafeMutablePointer<AVFormatContext>?
    private let packet: Packet
    private(set) var tracks: [TrackInfo] = []
    private var streamTracks: [Int32: TrackInfo] = [:]
    let path: String

    init(path: String) throws(LibavError) {
        LibavLog.quiet
        self.path = path
        packet = try Packet()
        var context: UnsafeMutablePointer<AVFormatContext>?
        try LibavError.check(avformat_open_input(&context, path, nil, nil), "avformat_open_input(\(path))")
        self.context = context
        do {
            try LibavError.check(avformat_find_stream_info(context, nil), "avformat_find_stream_info(\(path))")
        } catch {
            avformat_close_input(&self.context)
            throw error
        }
        for type in [AVMEDIA_TYPE_VIDEO, AVMEDIA_TYPE_AUDIO] {
            let index = av_find_best_stream(context, type, -1, -1, nil, 0)
            guard index >= 0, let stream = context?.pointee.streams[Int(index)], let track = Self.track(of: stream) else { continue }
            tracks.append(track)
            streamTracks[index] = track
        }
        if tracks.isEmpty {
            avformat_close_input(&self.context)
            throw LibavError("av_find_best_stream(\(path)): no audio or video", code: streamd_averror(22))
        }
    }

    deinit { avformat_close_input(&context) }

    private static func track(of stream: UnsafeMutablePointer<AVStream>) -> TrackInfo? {
        guard let parameters = stream.pointee.codecpar, let timebase = Timebase(stream.pointee.time_base) else { return nil }
        let p = parameters.pointee
        let codec = Codec(avCodecID: p.codec_id)
        let extradata: [UInt8] =
            if let data = p.extradata, p.extradata_size > 0 {
                Array(UnsafeBufferPointer(start: data, count: Int(p.extradata_size)))
            } else {
                []
            }
        let configuration: CodecConfiguration
        switch codec {
        case .h264:
            if let record = try? AVCDecoderConfigurationRecord(parsing: extradata) {
                configuration = .avc(record)
            } else {
                configuration = .opaque(extradata)
            }
        case .aac:
            if let config = try? AudioSpecificConfig(parsing: extradata) {
                configuration = .aac(config)
            } else {
                configuration = .opaque(extradata)
            }
        default:
            configuration = .opaque(extradata)
        }
        let bitrate = p.bit_rate > 0 ? Int(p.bit_rate) : nil
        switch p.codec_type {
        case AVMEDIA_TYPE_VIDEO:
            let rate = stream.pointee.avg_frame_rate
            let frameRate = rate.num > 0 && rate.den > 0 ? Double(rate.num) / Double(rate.den) : nil
            return TrackInfo(
                kind: .video, codec: codec, configuration: configuration, timebase: timebase,
                width: Int(p.width), height: Int(p.height), frameRate: frameRate, bitrate: bitrate
            )
        case AVMEDIA_TYPE_AUDIO:
            return TrackInfo(
                kind: .audio, codec: codec, configuration: configuration, timebase: timebase,
                sampleRate: Int(p.sample_rate), channels: Int(p.ch_layout.nb_channels), bitrate: bitrate
            )
        default:
            return nil
        }
    }

    /// The next packet of a selected stream, or `nil` at the end of the file.
    func read() throws(LibavError) -> MediaPacket? {
        guard let context else { return nil }
        while true {
            let code = av_read_frame(context, packet.pointer)
            if code == streamd_averror_eof() { return nil }
            try LibavError.check(code, "av_read_frame(\(path))")
            defer { packet.unref() }
            guard let track = streamTracks[packet.pointer.pointee.stream_index] else { continue }
            let nopts = streamd_nopts_value()
            if packet.pointer.pointee.pts == nopts, packet.pointer.pointee.dts == nopts { continue }
            return packet.mediaPacket(track: track.kind, timebase: track.timebase)
        }
    }
}
