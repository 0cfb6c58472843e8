import Ingest

/// A channel's ingest alert rules (`IngestAlertRulesConfigured`; `.default` until set). A nil limit
/// turns its rule off.
///
/// A rule is judged on every sampling interval of the ingest statistics. It raises once it has
/// been broken for `raiseAfterSeconds` without a break, and clears once it has held for
/// `clearAfterSeconds` without a break, so a figure that hovers around its limit raises once and
/// stays raised instead of flapping.
public struct IngestAlertRules: Sendable, Hashable, Codable {
    /// Received bits per second (all of the connection's bytes).
    public var minimumBitrate: Int?
    public var maximumBitrate: Int?
    /// Video frames per second.
    public var minimumFrameRate: Double?
    public var maximumFrameRate: Double?
    public var maximumKeyframeIntervalSeconds: Double?
    /// Alert when the source has B-frames.
    public var bFrames: Bool
    /// Alert when the source sends no audio.
    public var audioMissing: Bool
    /// Largest distance between the newest video and audio timestamps.
    public var maximumAVDriftMilliseconds: Int?
    public var raiseAfterSeconds: Double
    public var clearAfterSeconds: Double

    public init(
        minimumBitrate: Int? = nil, maximumBitrate: Int? = nil, minimumFrameRate: Double? = 15, maximumFrameRate: Double? = nil,
        maximumKeyframeIntervalSeconds: Double? = 4, bFrames: Bool = true, audioMissing: Bool = true,
        maximumAVDriftMilliseconds: Int? = 1_000, raiseAfterSeconds: Double = 5, clearAfterSeconds: Double = 10
    ) {
        self.minimumBitrate = minimumBitrate
        self.maximumBitrate = maximumBitrate
        self.minimumFrameRate = minimumFrameRate
        self.maximumFrameRate = maximumFrameRate
        self.maximumKeyframeIntervalSeconds = maximumKeyframeIntervalSeconds
        self.bFrames = bFrames
        self.audioMissing = audioMissing
        self.maximumAVDriftMilliseconds = maximumAVDriftMilliseconds
        self.raiseAfterSeconds = raiseAfterSeconds
        self.clearAfterSeconds = clearAfterSeconds
    }

    /// Frame rate under 15, keyframes more than 4 s apart, B-frames, no audio, A/V drift over 1 s;
    /// bitrate unchecked. Each must last 5 s to raise; 10 s without a break clears.
    public static let `default` = IngestAlertRules()

    /// What makes these rules unusable, one sentence each; empty when they are fine.
    public var problems: [String] {
        var problems: [String] = []
        func check(_ name: String, _ value: Double?, _ range: ClosedRange<Double>, _ unit: String) {
            guard let value else { return }
            if !value.isFinite || !range.contains(value) {
                problems.append(
                    "\(name) must be between \(Self.text(range.lowerBound)) and \(Self.text(range.upperBound))\(unit) (or null to turn it off)"
                )
            }
        }
        check("minimumBitrate", minimumBitrate.map(Double.init), 1_000...1_000_000_000, " bits per second")
        check("maximumBitrate", maximumBitrate.map(Double.init), 1_000...1_000_000_000, " bits per second")
        if let low = minimumBitrate, let high = maximumBitrate, low > high {
            problems.append("minimumBitrate (\(low)) is above maximumBitrate (\(high)); swap them")
        }
        check("minimumFrameRate", minimumFrameRate, 1...240, " frames per second")
        check("maximumFrameRate", maximumFrameRate, 1...240, " frames per second")
        if let low = minimumFrameRate, let high = maximumFrameRate, low > high {
            problems.append("minimumFrameRate (\(Self.text(low))) is above maximumFrameRate (\(Self.text(high))); swap them")
        }
        check("maximumKeyframeIntervalSeconds", maximumKeyframeIntervalSeconds, 0.5...60, " seconds")
        check("maximumAVDriftMilliseconds", maximumAVDriftMilliseconds.map(Double.init), 10...60_000, " ms")
        if !raiseAfterSeconds.isFinite || !(1...600).contains(raiseAfterSeconds) {
            problems.append("raiseAfterSeconds must be between 1 and 600")
        }
        if !clearAfterSeconds.isFinite || !(1...600).contains(clearAfterSeconds) {
            problems.append("clearAfterSeconds must be between 1 and 600")
        }
        return problems
    }

    /// How one sampling interval stands against a rule.
    public enum Judgement: Sendable, Hashable {
        /// The rule is off.
        case off
        /// Nothing in the interval says either way (no video for a keyframe rule).
        case unknown
        case met
        case broken(measured: Double, limit: Double, message: String)
    }

    public func judge(_ rule: IngestAlertRule, _ stats: IngestStats) -> Judgement {
        switch rule {
        case .bitrate:
            guard minimumBitrate != nil || maximumBitrate != nil else { return .off }
            let bitrate = Double(stats.receivedBitrate)
            if let low = minimumBitrate, bitrate < Double(low) {
                return .broken(
                    measured: bitrate, limit: Double(low),
                    message:
                        "the stream arrives at \(Self.kbps(bitrate)), under the channel's minimum of \(Self.kbps(Double(low))): raise the encoder's bitrate or check its uplink"
                )
            }
            if let high = maximumBitrate, bitrate > Double(high) {
                return .broken(
                    measured: bitrate, limit: Double(high),
                    message:
                        "the stream arrives at \(Self.kbps(bitrate)), over the channel's maximum of \(Self.kbps(Double(high))): lower the encoder's bitrate"
                )
            }
            return .met
        case .frameRate:
            guard minimumFrameRate != nil || maximumFrameRate != nil else { return .off }
            let fps = stats.videoFrameRate.isFinite ? stats.videoFrameRate : 0
            if let low = minimumFrameRate, fps < low {
                return .broken(
                    measured: fps, limit: low,
                    message: fps == 0
                        ? "no video frames arrive: check that the encoder sends video"
                        : "video arrives at \(Self.text(fps)) fps, under the channel's minimum of \(Self.text(low)): set the encoder to a steady 30 fps, or lower its load"
                )
            }
            if let high = maximumFrameRate, fps > high {
                return .broken(
                    measured: fps, limit: high,
                    message:
                        "video arrives at \(Self.text(fps)) fps, over the channel's maximum of \(Self.text(high)): lower the encoder's frame rate"
                )
            }
            return .met
        case .keyframeInterval:
            guard let limit = maximumKeyframeIntervalSeconds else { return .off }
            guard let milliseconds = stats.keyframeIntervalMilliseconds else { return .unknown }
            let seconds = Double(milliseconds) / 1000
            guard seconds > limit else { return .met }
            return .broken(
                measured: seconds, limit: limit,
                message:
                    "keyframes arrive \(Self.text(seconds)) s apart, over the channel's limit of \(Self.text(limit)) s: set the encoder's keyframe interval to 2 s (OBS: Keyframe Interval 2; ffmpeg: -g of twice the frame rate)"
            )
        case .bFrames:
            guard bFrames else { return .off }
            guard stats.videoFrameRate > 0 else { return .unknown }
            let reordered = stats.reorderedVideoFrames ?? 0
            guard reordered > 0 else { return .met }
            return .broken(
                measured: Double(reordered), limit: 0,
                message:
                    "the video has B-frames (\(reordered) frames out of order in \(Self.text(stats.intervalSeconds)) s), which low-latency playback of the passthrough does not need: set the encoder's B-frames to 0 (x264: bframes=0, ffmpeg: -bf 0)"
            )
        case .audioMissing:
            guard audioMissing else { return .off }
            guard !(stats.audioFrameRate > 0) else { return .met }
            return .broken(
                measured: 0, limit: 0, message: "no audio frames arrive: check the encoder's audio source and that its audio track is on")
        case .avDrift:
            guard let limit = maximumAVDriftMilliseconds else { return .off }
            // Without both tracks flowing, the newest timestamps say nothing about sync.
            guard stats.videoFrameRate > 0, stats.audioFrameRate > 0, let drift = stats.avDriftMilliseconds else { return .unknown }
            let distance = drift.magnitude
            guard distance > UInt64(clamping: limit) else { return .met }
            return .broken(
                measured: Double(drift), limit: Double(limit),
                message:
                    "video is \(Self.text(Double(distance) / 1000)) s \(drift > 0 ? "ahead of" : "behind") audio, over the channel's limit of \(Self.text(Double(limit) / 1000)) s: check the encoder's audio sync offset and its audio device's clock"
            )
        }
    }

    static func text(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        guard rounded.isFinite, rounded.magnitude < 1e15 else { return "\(value)" }
        return rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)
    }

    static func kbps(_ bitsPerSecond: Double) -> String { "\(Int64((bitsPerSecond / 1000).rounded())) kbit/s" }
}
