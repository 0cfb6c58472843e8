import CFFmpeg
import Media

/// Owns a libx264 `AVCodecContext` for one rung. Frames must be yuv420p at the rung's size.
final class VideoEncoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private let packet: Packet
    let timebase: Timebase
    /// `avcC` built from the encoder's global header (SPS/PPS).
    let configuration: AVCDecoderConfigurationRecord
    private let label: String

    struct Settings {
        var width: Int
        var height: Int
        var timebase: Timebase
        var frameRate: Double
        var bitrate: Int
        var profile: String
        var preset: String
        var threads: Int
        var tuning: LadderTuning
    }

    init(_ settings: Settings, label: String) throws(LibavError) {
        self.label = label
        timebase = settings.timebase
        guard let codec = avcodec_find_encoder_by_name("libx264") else {
            throw LibavError("avcodec_find_encoder_by_name(libx264)", code: streamd_averror(2))
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw LibavError("avcodec_alloc_context3(libx264)", code: LibavError.outOfMemory)
        }
        self.context = context
        do {
            packet = try Packet()
            let c = context
            c.pointee.width = Int32(clamping: settings.width)
            c.pointee.height = Int32(clamping: settings.height)
            c.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            c.pointee.time_base = settings.timebase.rational
            c.pointee.framerate = av_d2q(settings.frameRate, 100_000)
            c.pointee.bit_rate = Int64(settings.bitrate)
            c.pointee.rc_max_rate = Int64(settings.bitrate)
            let (buffer, overflow) = settings.bitrate.multipliedReportingOverflow(by: 2)
            c.pointee.rc_buffer_size = Int32(clamping: overflow ? Int.max : buffer)
            c.pointee.max_b_frames = 0
            c.pointee.gop_size = -1
            c.pointee.thread_count = Int32(clamping: settings.threads)
            c.pointee.flags |= Int32(bitPattern: AV_CODEC_FLAG_CLOSED_GOP) | AV_CODEC_FLAG_GLOBAL_HEADER
            let options = c.pointee.priv_data
            try LibavError.check(av_opt_set(options, "preset", settings.preset, 0), "av_opt_set(preset=\(settings.preset))")
            try LibavError.check(av_opt_set(options, "profile", settings.profile, 0), "av_opt_set(profile=\(settings.profile))")
            // IDRs come only from the ladder's schedule: forced I frames become IDRs, x264 adds none.
            try LibavError.check(av_opt_set(options, "forced-idr", "1", 0), "av_opt_set(forced-idr)")
            var parameters = "keyint=infinite:scenecut=0:open-gop=0:bframes=0"
            if settings.tuning == .lowLatency {
                parameters += ":rc-lookahead=0:sync-lookahead=0:mbtree=0:force-cfr=1"
                if settings.threads > 1 { parameters += ":sliced-threads=1" }
            }
            try LibavError.check(av_opt_set(options, "x264-params", parameters, 0), "av_opt_set(x264-params=\(parameters))")
            try LibavError.check(avcodec_open2(c, codec, nil), "avcodec_open2(libx264 \(label))")
            let extradata: [UInt8] =
                if let data = c.pointee.extradata, c.pointee.extradata_size > 0 {
                    Array(UnsafeBufferPointer(start: data, count: Int(c.pointee.extradata_size)))
                } else {
                    []
                }
            configuration = try Self.configuration(fromAnnexB: extradata, label: label)
        } catch {
            avcodec_free_context(&self.context)
            throw error
        }
    }

    deinit { avcodec_free_context(&context) }

    private static func configuration(fromAnnexB bytes: [UInt8], label: String) throws(LibavError) -> AVCDecoderConfigurationRecord {
        var sps: [[UInt8]] = []
        var pps: [[UInt8]] = []
        for unit in AnnexB.nalUnits(bytes) {
            guard let header = unit.first else { continue }
            switch header & 0x1F {
            case 7: sps.append(Array(unit))
            case 8: pps.append(Array(unit))
            default: break
            }
        }
        guard let first = sps.first, first.count >= 4, !pps.isEmpty else {
            throw LibavError("libx264 \(label) global header without SPS/PPS", code: streamd_averror_invaliddata())
        }
        return AVCDecoderConfigurationRecord(
            profileIndication: first[1], profileCompatibility: first[2], levelIndication: first[3],
            nalUnitLengthSize: 4, sequenceParameterSets: sps, pictureParameterSets: pps
        )
    }

    /// Encodes `frame` (the caller's own, writable frame), or drains when `nil`.
    func send(_ frame: Frame?, forceIDR: Bool) throws(LibavError) {
        guard let context else { return }
        let code: Int32
        if let frame {
            frame.pointer.pointee.pict_type = forceIDR ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE
            frame.pointer.pointee.key_frame = forceIDR ? 1 : 0
            code = avcodec_send_frame(context, frame.pointer)
        } else {
            code = avcodec_send_frame(context, nil)
        }
        if code < 0, code != streamd_averror_eof() {
            throw LibavError("avcodec_send_frame(libx264 \(label))", code: code)
        }
    }

    /// The next encoded access unit (AVCC payload), or `nil` when the encoder needs more frames.
    func receive() throws(LibavError) -> MediaPacket? {
        guard let context else { return nil }
        let code = avcodec_receive_packet(context, packet.pointer)
        if code == streamd_averror_eagain() || code == streamd_averror_eof() { return nil }
        try LibavError.check(code, "avcodec_receive_packet(libx264 \(label))")
        var media = packet.mediaPacket(track: .video, timebase: timebase)
        packet.unref()
        media.data = AnnexB.lengthPrefixed(media.data)
        return media
    }
}
