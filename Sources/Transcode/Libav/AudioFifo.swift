import CFFmpeg

/// Owns an `AVAudioFifo` of planar float samples, cutting resampled audio into encoder-sized frames.
final class AudioFifo {
    private let fifo: OpaquePointer
    let channels: Int32
    let sampleRate: Int32

    init(channels: Int, sampleRate: Int) throws(LibavError) {
        self.channels = Int32(clamping: channels)
        self.sampleRate = Int32(clamping: sampleRate)
        guard let fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLTP, self.channels, 4096) else {
            throw LibavError("av_audio_fifo_alloc", code: LibavError.outOfMemory)
        }
        self.fifo = fifo
    }

    deinit { av_audio_fifo_free(fifo) }

    var count: Int { Int(av_audio_fifo_size(fifo)) }

    func write(_ frame: Frame, samples: Int32) throws(LibavError) {
        guard samples > 0 else { return }
        let written = frame.pointer.pointee.extended_data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: Int(channels)) {
            av_audio_fifo_write(fifo, $0, samples)
        }
        guard written >= samples else { throw LibavError("av_audio_fifo_write", code: min(written, LibavError.outOfMemory)) }
    }

    /// Up to `samples` samples as a new frame, or `nil` when empty.
    func read(_ samples: Int) throws(LibavError) -> Frame? {
        let available = min(samples, count)
        guard available > 0 else { return nil }
        let frame = try Frame()
        frame.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        frame.pointer.pointee.sample_rate = sampleRate
        frame.pointer.pointee.nb_samples = Int32(clamping: available)
        av_channel_layout_default(&frame.pointer.pointee.ch_layout, channels)
        try LibavError.check(av_frame_get_buffer(frame.pointer, 0), "av_frame_get_buffer(audio)")
        let read = frame.pointer.pointee.extended_data.withMemoryRebound(to: UnsafeMutableRawPointer?.self, capacity: Int(channels)) {
            av_audio_fifo_read(fifo, $0, Int32(clamping: available))
        }
        try LibavError.check(read, "av_audio_fifo_read")
        return frame
    }

    func reset() { av_audio_fifo_reset(fifo) }
}
