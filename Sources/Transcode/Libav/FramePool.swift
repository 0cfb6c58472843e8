import CFFmpeg

/// Owns an `AVBufferPool` of yuv420p picture buffers of one size, so scaled frames reuse memory
/// instead of faulting in fresh pages for every frame. Buffers still referenced keep the pool alive
/// after `deinit`.
final class FramePool {
    private var pool: OpaquePointer?
    let width: Int32
    let height: Int32
    private static let alignment: Int32 = 64

    init(width: Int32, height: Int32) throws(LibavError) {
        self.width = width
        self.height = height
        let size = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, width, height, Self.alignment)
        try LibavError.check(size, "av_image_get_buffer_size(\(width)x\(height))")
        guard let pool = av_buffer_pool_init(Int(size), nil) else {
            throw LibavError("av_buffer_pool_init", code: LibavError.outOfMemory)
        }
        self.pool = pool
    }

    deinit { av_buffer_pool_uninit(&pool) }

    /// A new yuv420p frame of the pool's size backed by a pooled buffer.
    func frame() throws(LibavError) -> Frame {
        let frame = try Frame()
        frame.pointer.pointee.width = width
        frame.pointer.pointee.height = height
        frame.pointer.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        try LibavError.check(
            streamd_frame_get_pooled_buffer(frame.pointer, pool, Self.alignment),
            "av_buffer_pool_get(\(width)x\(height))"
        )
        return frame
    }
}
