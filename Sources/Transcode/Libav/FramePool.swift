import CFFmpeg

/// Owns an `AVBufferPool` of picture buffers of one size and pixel format, so scaled frames reuse memory
/// instead of faulting in fresh pages for every frame. Buffers still referenced keep the pool alive
/// after `deinit`.
final class FramePool {
    private var pool: OpaquePointer?
    let width: Int32
    let height: Int32
    let format: AVPixelFormat
    private static let alignment: Int32 = 64

    init(width: Int32, height: Int32, format: AVPixelFormat = AV_PIX_FMT_YUV420P) throws(LibavError) {
        self.width = width
        self.height = height
        self.format = format
        let size = av_image_get_buffer_size(format, width, height, Self.alignment)
        try LibavError.check(size, "av_image_get_buffer_size(\(width)x\(height))")
        guard let pool = av_buffer_pool_init(Int(size), nil) else {
            throw LibavError("av_buffer_pool_init", code: LibavError.outOfMemory)
        }
        self.pool = pool
    }

    deinit { av_buffer_pool_uninit(&pool) }

    /// A new frame of the pool's size and format backed by a pooled buffer.
    func frame() throws(LibavError) -> Frame {
        let frame = try Frame()
        frame.pointer.pointee.width = width
        frame.pointer.pointee.height = height
        frame.pointer.pointee.format = format.rawValue
        try LibavError.check(
            streamd_frame_get_pooled_buffer(frame.pointer, pool, Self.alignment),
            "av_buffer_pool_get(\(width)x\(height))"
        )
        return frame
    }
}
