/// How a transcoder runs; the defaults suit a live stream.
public struct TranscodeOptions: Sendable {
    public enum Scaling: Sendable, Hashable {
        /// Each rung scales from the next taller rung's frame on the dispatcher (1080p → 720p → 480p
        /// → 360p): cheaper than scaling every rung from the source
        /// (docs/benchmarks.md#transcode-scaling).
        case cascade
        /// Each rung's encoder thread scales from the decoded source frame.
        case fromSource
    }

    /// Shed and restore rungs when encoding falls behind real time. `nil` for file input, which is
    /// read faster than real time and always fills the queues.
    public var overload: OverloadGovernor.Configuration?
    /// Decoded frames each rung's queue holds; the dispatcher waits when one is full. Must exceed the
    /// overload bound (`maxBacklog` seconds of frames) for overload to be detected.
    public var queueCapacity: Int
    /// libx264 threads per rung encoder; each rung already has its own thread.
    public var encoderThreads: Int
    /// libx264 threads for the tallest encoded rung, the largest share of the work.
    public var topRungEncoderThreads: Int
    public var decoderThreads: Int
    /// Packets in a row that may fail to decode before the stream is declared corrupt.
    public var maxConsecutiveDecodeFailures: Int
    public var scaling: Scaling

    public init(
        overload: OverloadGovernor.Configuration? = OverloadGovernor.Configuration(), queueCapacity: Int = 48,
        encoderThreads: Int = 1, topRungEncoderThreads: Int = 1, decoderThreads: Int = 1, maxConsecutiveDecodeFailures: Int = 25,
        scaling: Scaling = .cascade
    ) {
        self.scaling = scaling
        self.overload = overload
        self.queueCapacity = queueCapacity
        self.encoderThreads = encoderThreads
        self.topRungEncoderThreads = topRungEncoderThreads
        self.decoderThreads = decoderThreads
        self.maxConsecutiveDecodeFailures = maxConsecutiveDecodeFailures
    }

    /// For files and benchmarks: no overload shedding, and short queues (a few frames decouple the
    /// threads; deeper ones only make the decoder's frame pool, and the memory it touches, grow).
    public static let file = TranscodeOptions(overload: nil, queueCapacity: 8)
}
