/// One window of a session's ingest statistics: the lowest, mean and highest of each figure, the
/// counts summed, and every interval's own figures that the quality machine reads (`samples`), so
/// the machine folds exactly what it would have folded from one event per interval.
public struct IngestStatsSummary: Sendable, Hashable, Codable {
    /// Lowest, time-weighted mean and highest value of a figure over the window.
    public struct Spread: Sendable, Hashable, Codable {
        public var min: Double
        public var avg: Double
        public var max: Double

        public init(min: Double, avg: Double, max: Double) {
            self.min = min
            self.avg = avg
            self.max = max
        }

        /// nil when no interval has the figure.
        init?(_ values: [(value: Double, weight: Double)]) {
            let finite = values.filter { $0.value.isFinite }
            guard let first = finite.first else { return nil }
            var low = first.value
            var high = first.value
            var sum = 0.0
            var weights = 0.0
            for (value, weight) in finite {
                low = Swift.min(low, value)
                high = Swift.max(high, value)
                sum += value * weight
                weights += weight
            }
            let mean = weights > 0 ? sum / weights : finite.map(\.value).reduce(0, +) / Double(finite.count)
            self.init(min: low, avg: (mean * 1000).rounded() / 1000, max: high)
        }
    }

    /// One interval, as far as the quality machine reads it (`IngestStats(_:)` gives it back).
    public struct Sample: Sendable, Hashable, Codable {
        public var seconds: Double
        public var bitrate: Int
        public var videoFPS: Double
        public var audioFPS: Double
        /// Omitted when zero.
        public var late: Int?
        public var dropped: Int?
        public var lagMs: Int64?
        public var srt: SRT?
        /// Ingest alerts' figures (`IngestStats`' A/V drift, keyframe interval, reordered frames);
        /// absent in windows recorded before they were kept.
        public var driftMs: Int64?
        public var keyframeMs: Int64?
        public var reordered: Int?

        public struct SRT: Sendable, Hashable, Codable {
            public var rttMs: Double
            public var receiveMbps: Double
            public var bandwidthMbps: Double
            public var received: Int
            public var lost: Int
        }

        public init(_ stats: IngestStats) {
            seconds = stats.intervalSeconds
            bitrate = stats.receivedBitrate
            videoFPS = stats.videoFrameRate
            audioFPS = stats.audioFrameRate
            late = stats.lateFrames == 0 ? nil : stats.lateFrames
            dropped = stats.droppedFrames == 0 ? nil : stats.droppedFrames
            lagMs = stats.timestampLagMilliseconds
            driftMs = stats.avDriftMilliseconds
            keyframeMs = stats.keyframeIntervalMilliseconds
            reordered = stats.reorderedVideoFrames
            srt = stats.srt.map {
                SRT(
                    rttMs: $0.rttMilliseconds, receiveMbps: $0.receiveRateMbps, bandwidthMbps: $0.bandwidthMbps,
                    received: $0.packetsReceived, lost: $0.packetsLost)
            }
        }
    }

    /// Seconds the window covers (its intervals summed).
    public var seconds: Double
    public var intervals: Int
    public var receivedBitrate: Spread
    public var videoFrameRate: Spread
    public var audioFrameRate: Spread
    public var avDriftMilliseconds: Spread?
    public var timestampLagMilliseconds: Spread?
    public var srtRTTMilliseconds: Spread?
    public var lateFrames: Int
    public var droppedFrames: Int
    public var queueDepthMax: Int
    /// Intervals in which socket reads were paused for a slow consumer.
    public var backpressuredIntervals: Int
    public var srtPacketsLost: Int?
    public var srtPacketsDropped: Int?
    public var srtPacketsRetransmitted: Int?
    public var samples: [Sample]

    /// nil for no interval.
    public init?(_ window: [IngestStats]) {
        guard !window.isEmpty else { return nil }
        func spread(_ value: (IngestStats) -> Double?) -> Spread? {
            Spread(window.compactMap { stats in value(stats).map { (value: $0, weight: Swift.max(stats.intervalSeconds, 0)) } })
        }
        let srt = window.compactMap(\.srt)
        seconds = window.reduce(0) { $0 + ($1.intervalSeconds.isFinite ? Swift.max($1.intervalSeconds, 0) : 0) }
        intervals = window.count
        receivedBitrate = spread { Double($0.receivedBitrate) } ?? Spread(min: 0, avg: 0, max: 0)
        videoFrameRate = spread { $0.videoFrameRate } ?? Spread(min: 0, avg: 0, max: 0)
        audioFrameRate = spread { $0.audioFrameRate } ?? Spread(min: 0, avg: 0, max: 0)
        avDriftMilliseconds = spread { $0.avDriftMilliseconds.map(Double.init) }
        timestampLagMilliseconds = spread { $0.timestampLagMilliseconds.map(Double.init) }
        srtRTTMilliseconds = spread { $0.srt?.rttMilliseconds }
        lateFrames = window.reduce(0) { $0 &+ Swift.max(0, $1.lateFrames) }
        droppedFrames = window.reduce(0) { $0 &+ Swift.max(0, $1.droppedFrames) }
        queueDepthMax = window.map(\.queueDepth).max() ?? 0
        backpressuredIntervals = window.filter(\.backpressured).count
        if !srt.isEmpty {
            srtPacketsLost = srt.reduce(0) { $0 &+ $1.packetsLost }
            srtPacketsDropped = srt.reduce(0) { $0 &+ $1.packetsDropped }
            srtPacketsRetransmitted = srt.reduce(0) { $0 &+ $1.packetsRetransmitted }
        }
        samples = window.map(Sample.init)
    }
}

extension IngestStats {
    /// An interval's figures as a window recorded them; the ones it does not keep are zero.
    public init(_ sample: IngestStatsSummary.Sample) {
        self.init()
        intervalSeconds = sample.seconds
        receivedBitrate = sample.bitrate
        videoFrameRate = sample.videoFPS
        audioFrameRate = sample.audioFPS
        lateFrames = sample.late ?? 0
        droppedFrames = sample.dropped ?? 0
        timestampLagMilliseconds = sample.lagMs
        avDriftMilliseconds = sample.driftMs
        keyframeIntervalMilliseconds = sample.keyframeMs
        reorderedVideoFrames = sample.reordered
        srt = sample.srt.map {
            var link = SRTLinkStatistics()
            link.rttMilliseconds = $0.rttMs
            link.receiveRateMbps = $0.receiveMbps
            link.bandwidthMbps = $0.bandwidthMbps
            link.packetsReceived = $0.received
            link.packetsLost = $0.lost
            return link
        }
    }
}
