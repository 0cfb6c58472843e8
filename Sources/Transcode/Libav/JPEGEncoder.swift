import CFFmpeg

/// Owns an `mjpeg` `AVCodecContext` for one picture size. Frames must be yuvj420p at that size.
final class JPEGEncoder {
    private var context: UnsafeMutablePointer<AVCodecContext>?
    private let packet: Packet
    private let quality: Int32

    /// `qscale` as ffmpeg's `-q:v`: 2 (best, largest) to 31.
    init(width: Int, height: Int, qscale: Int) throws(LibavError) {
        guard let codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG) else {
            throw LibavError("avcodec_find_encoder(mjpeg)", code: streamd_averror(2))
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw LibavError("avcodec_alloc_context3(mjpeg)", code: LibavError.outOfMemory)
        }
        self.context = context
        quality = Int32(clamping: min(max(qscale, 2), 31)) * FF_QP2LAMBDA
        do {
            packet = try Packet()
            context.pointee.width = Int32(clamping: width)
            context.pointee.height = Int32(clamping: height)
            context.pointee.pix_fmt = AV_PIX_FMT_YUVJ420P
            context.pointee.color_range = AVCOL_RANGE_JPEG
            context.pointee.time_base = AVRational(num: 1, den: 1)
            context.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
            // A fixed quantizer: mpegvideo takes each frame's `quality` as its lambda.
            context.pointee.flags |= AV_CODEC_FLAG_QSCALE
            context.pointee.global_quality = quality
            try LibavError.check(avcodec_open2(context, codec, nil), "avcodec_open2(mjpeg \(width)x\(height))")
        } catch {
            avcodec_free_context(&self.context)
            throw error
        }
    }

    deinit { avcodec_free_context(&context) }

    /// `frame` (the caller's own) as one JPEG file.
    func encode(_ frame: Frame) throws(LibavError) -> [UInt8] {
        guard let context else { return [] }
        frame.pointer.pointee.quality = quality
        frame.pointer.pointee.pts = 0
        try LibavError.check(avcodec_send_frame(context, frame.pointer), "avcodec_send_frame(mjpeg)")
        try LibavError.check(avcodec_send_frame(context, nil), "avcodec_send_frame(mjpeg, drain)")
        try LibavError.check(avcodec_receive_packet(context, packet.pointer), "avcodec_receive_packet(mjpeg)")
        defer { packet.unref() }
        let p = packet.pointer.pointee
        guard let data = p.data, p.size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(p.size)))
    }
}
