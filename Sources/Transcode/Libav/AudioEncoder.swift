import CFFmpeg
import Media

/// Owns the AAC-LC encoder's `AVCodecContext` (libavcodec's native `aac`), planar float input.
final class AudioEncoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private let packet: Packet
    let timebase: Timebase
    let frameSize: Int
    let configuration: AudioSpecificConfig

    init(sampleRate: Int, channels: Int, bitrate: Int) throws(LibavError) {
        timebase = Timebase(1, Int64(max(sampleRate, 1)))
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_AAC) else {
            throw LibavError("avcodec_find_encoder(aac)", code: streamd_averror(2))
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw LibavError("avcodec_alloc_context3(aac)", code: LibavError.outOfMemory)
        }
        self.context = context
        do {
            packet = try Packet()
            context.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
            context.pointee.sample_rate = Int32(clamping: sampleRate)
            av_channel_layout_default(&context.pointee.ch_layout, Int32(clamping: channels))
            context.pointee.bit_rate = Int64(bitrate)
            context.pointee.time_base = timebase.rational
            context.pointee.profile = FF_PROFILE_AAC_LOW
            context.pointee.flags |= AV_CODEC_FLAG_GLOBAL_HEADER
            try LibavError.check(avcodec_open2(context, codec, nil), "avcodec_open2(aac)")
            frameSize = Int(context.pointee.frame_size > 0 ? context.pointee.frame_size : 1024)
            let extradata: [UInt8] =
                if let data = context.pointee.extradata, context.pointee.extradata_size > 0 {
                    Array(UnsafeBufferPointer(start: data, count: Int(context.pointee.extradata_size)))
                } else {
                    []
                }
            do {
                configuration = try AudioSpecificConfig(parsing: extradata)
            } catch {
                configuration = AudioSpecificConfig(objectType: 2, sampleRate: sampleRate, channelConfiguration: channels)
            }
        } catch {
            avcodec_free_context(&self.context)
            throw error
        }
    }

    deinit { avcodec_free_context(&context) }

    func send(_ frame: Frame?) throws(LibavError) {
        guard let context else { return }
        let code = avcodec_send_frame(context, frame?.pointer)
        if code < 0, code != streamd_averror_eof() {
            throw LibavError("avcodec_send_frame(aac)", code: code)
        }
    }

    func receive() throws(LibavError) -> MediaPacket? {
        guard let context else { return nil }
        let code = avcodec_receive_packet(context, packet.pointer)
        if code == streamd_averror_eagain() || code == streamd_averror_eof() { return nil }
        try LibavError.check(code, "avcodec_receive_packet(aac)")
        let media = packet.mediaPacket(track: .audio, timebase: timebase)
        packet.unref()
        return media
    }
}
