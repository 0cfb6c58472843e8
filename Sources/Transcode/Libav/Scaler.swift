import CFFmpeg

/// Owns a `SwsContext` converting frames to one size and pixel format (yuv420p for a rung, yuvj420p
/// for a thumbnail). The context is rebuilt when the source's size or pixel format changes.
final class Scaler {
    private var context: OpaquePointer?
    private var sourceShape: (width: Int32, height: Int32, format: Int32) = (0, 0, -1)
    private var pool: FramePool?
    let width: Int32
    let height: Int32
    let format: AVPixelFormat

    init(width: Int, height: Int, format: AVPixelFormat = AV_PIX_FMT_YUV420P) {
        self.width = Int32(clamping: width)
        self.height = Int32(clamping: height)
        self.format = format
    }

    deinit { sws_freeContext(context) }

    /// A new frame holding `source` scaled, with the source's `pts`.
    func scale(_ source: Frame) throws(LibavError) -> Frame {
        let s = source.pointer.pointee
        if context == nil || sourceShape != (s.width, s.height, s.format) {
            sws_freeContext(context)
            context = sws_getContext(
                s.width, s.height, AVPixelFormat(rawValue: s.format),
                width, height, format, Int32(SWS_BICUBIC), nil, nil, nil
            )
            guard context != nil else {
                throw LibavError("sws_getContext(\(s.width)x\(s.height) -> \(width)x\(height))", code: streamd_averror(22))
            }
            sourceShape = (s.width, s.height, s.format)
        }
        let pool: FramePool
        if let existing = self.pool {
            pool = existing
        } else {
            pool = try FramePool(width: width, height: height, format: format)
            self.pool = pool
        }
        let output = try pool.frame()
        try LibavError.check(sws_scale_frame(context, output.pointer, source.pointer), "sws_scale_frame(\(width)x\(height))")
        output.pointer.pointee.pts = s.pts
        return output
    }
}
