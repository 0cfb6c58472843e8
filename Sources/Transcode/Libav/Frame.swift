import CFFmpeg

/// Owns one reference to an `AVFrame`; the buffers are reference-counted by libav.
///
/// `@unchecked Sendable`: a frame is written by one thread (the decoder or a scaler) before it is
/// handed on and only read afterwards. A consumer that must change a field (`pict_type`) works on
/// its own `clone()`, a new `AVFrame` sharing the buffers.
final class Frame: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws(LibavError) {
        guard let pointer = av_frame_alloc() else { throw LibavError("av_frame_alloc", code: LibavError.outOfMemory) }
        self.pointer = pointer
    }

    private init(taking pointer: UnsafeMutablePointer<AVFrame>) {
        self.pointer = pointer
    }

    deinit {
        var pointer: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&pointer)
    }

    /// A new frame referencing the same buffers.
    func clone() throws(LibavError) -> Frame {
        guard let copy = av_frame_clone(pointer) else { throw LibavError("av_frame_clone", code: LibavError.outOfMemory) }
        return Frame(taking: copy)
    }

    var pts: Int64 { pointer.pointee.pts }
    var width: Int { Int(pointer.pointee.width) }
    var height: Int { Int(pointer.pointee.height) }
    var format: Int32 { pointer.pointee.format }
    var sampleCount: Int { Int(pointer.pointee.nb_samples) }
}
