import CFFmpeg

/// Owns a `SwrContext` converting decoded audio to planar float at the output rate and layout.
final class Resampler {
    private var context: OpaquePointer?
    let outputRate: Int32
    let outputChannels: Int32
    private var inputShape: (rate: Int32, channels: Int32, format: Int32) = (0, 0, -1)

    init(outputRate: Int, outputChannels: Int) {
        self.outputRate = Int32(clamping: outputRate)
        self.outputChannels = Int32(clamping: outputChannels)
    }

    deinit { swr_free(&context) }

    private func configure(for frame: Frame) throws(LibavError) {
        let f = frame.pointer.pointee
        let shape = (f.sample_rate, f.ch_layout.nb_channels, f.format)
        if context != nil, inputShape == shape { return }
        swr_free(&context)
        var outLayout = AVChannelLayout()
        av_channel_layout_default(&outLayout, outputChannels)
        var inLayout = AVChannelLayout()
        if av_channel_layout_check(&frame.pointer.pointee.ch_layout) != 0 {
            try LibavError.check(av_channel_layout_copy(&inLayout, &frame.pointer.pointee.ch_layout), "av_channel_layout_copy")
        } else {
            av_channel_layout_default(&inLayout, max(f.ch_layout.nb_channels, 1))
        }
        defer {
            av_channel_layout_uninit(&inLayout)
            av_channel_layout_uninit(&outLayout)
        }
        try LibavError.check(
            swr_alloc_set_opts2(
                &context, &outLayout, AV_SAMPLE_FMT_FLTP, outputRate,
                &inLayout, AVSampleFormat(rawValue: f.format), f.sample_rate, 0, nil
            ),
            "swr_alloc_set_opts2"
        )
        try LibavError.check(swr_init(context), "swr_init(\(f.sample_rate) Hz -> \(outputRate) Hz)")
        inputShape = shape
    }

    /// Converts `frame` (or flushes when `nil`) into `fifo`.
    func convert(_ frame: Frame?, into fifo: AudioFifo) throws(LibavError) {
        if let frame { try configure(for: frame) }
        guard let context else { return }
        let inputSamples = Int32(clamping: frame?.sampleCount ?? 0)
        let capacity = swr_get_out_samples(context, inputSamples)
        guard capacity > 0 else { return }
        let output = try Frame()
        output.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
        output.pointer.pointee.sample_rate = outputRate
        output.pointer.pointee.nb_samples = capacity
        av_channel_layout_default(&output.pointer.pointee.ch_layout, outputChannels)
        try LibavError.check(av_frame_get_buffer(output.pointer, 0), "av_frame_get_buffer(audio)")
        let converted: Int32
        if let frame, let input = frame.pointer.pointee.extended_data {
            let channels = Int(max(frame.pointer.pointee.ch_layout.nb_channels, 1))
            converted = input.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: channels) {
                swr_convert(context, output.pointer.pointee.extended_data, capacity, $0, inputSamples)
            }
        } else {
            converted = swr_convert(context, output.pointer.pointee.extended_data, capacity, nil, 0)
        }
        try LibavError.check(converted, "swr_convert")
        try fifo.write(output, samples: converted)
    }
}
