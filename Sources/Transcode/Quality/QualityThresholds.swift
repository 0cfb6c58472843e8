/// The limits of the quality machine, per channel (`QualitySettingsChanged`). The defaults are
/// DESIGN.md §5's; the RTT limits are this machine's own rule (see `QualityStateMachine`).
public struct QualityThresholds: Sendable, Hashable, Codable {
    /// When a level is left downwards: any figure past its limit for its whole window. A nil limit
    /// never trips.
    public struct Rule: Sendable, Hashable, Codable {
        /// Loss above this fraction (0.02 = 2 %)…
        public var maximumLossRate: Double?
        /// …for this many seconds.
        public var lossSeconds: Double
        /// Bandwidth below this many bits per second…
        public var minimumBandwidth: Double?
        public var bandwidthSeconds: Double
        /// RTT above this many milliseconds…
        public var maximumRTTMilliseconds: Double?
        public var rttSeconds: Double

        public init(
            maximumLossRate: Double? = nil, lossSeconds: Double = 5, minimumBandwidth: Double? = nil,
            bandwidthSeconds: Double = 10, maximumRTTMilliseconds: Double? = nil, rttSeconds: Double = 5
        ) {
            self.maximumLossRate = maximumLossRate
            self.lossSeconds = lossSeconds
            self.minimumBandwidth = minimumBandwidth
            self.bandwidthSeconds = bandwidthSeconds
            self.maximumRTTMilliseconds = maximumRTTMilliseconds
            self.rttSeconds = rttSeconds
        }
    }

    public var high: Rule
    public var medium: Rule
    public var low: Rule
    /// VERY_LOW → ERROR.
    public var veryLow: Rule
    /// Seconds of conditions good enough for the next level up (and at least this long in the
    /// current level) before RECOVERY starts.
    public var stableSeconds: Double
    /// Seconds RECOVERY probes before it confirms the level above.
    public var probeSeconds: Double
    /// A pause between samples longer than this (an encoder away in its grace window) restarts every
    /// window: nothing is known about the time between.
    public var maximumGapSeconds: Double

    public init(
        high: Rule, medium: Rule, low: Rule, veryLow: Rule, stableSeconds: Double = 60, probeSeconds: Double = 10,
        maximumGapSeconds: Double = 5
    ) {
        self.high = high
        self.medium = medium
        self.low = low
        self.veryLow = veryLow
        self.stableSeconds = stableSeconds
        self.probeSeconds = probeSeconds
        self.maximumGapSeconds = maximumGapSeconds
    }

    /// DESIGN.md §5. RTT: HIGH 300 ms, MEDIUM 500 ms, LOW 800 ms for 5 s (VERY_LOW has none: only
    /// a lack of bandwidth takes video away).
    public static let `default` = QualityThresholds(
        high: Rule(
            maximumLossRate: 0.02, lossSeconds: 5, minimumBandwidth: 5_000_000, bandwidthSeconds: 10, maximumRTTMilliseconds: 300,
            rttSeconds: 5),
        medium: Rule(
            maximumLossRate: 0.03, lossSeconds: 5, minimumBandwidth: 3_000_000, bandwidthSeconds: 10, maximumRTTMilliseconds: 500,
            rttSeconds: 5),
        low: Rule(
            maximumLossRate: 0.05, lossSeconds: 5, minimumBandwidth: 1_500_000, bandwidthSeconds: 10, maximumRTTMilliseconds: 800,
            rttSeconds: 5),
        veryLow: Rule(minimumBandwidth: 500_000, bandwidthSeconds: 20))

    /// The rule that leaves `level` downwards; nil for ERROR and RECOVERY.
    public func rule(for level: QualityState) -> Rule? {
        switch level {
        case .high: high
        case .medium: medium
        case .low: low
        case .veryLow: veryLow
        case .error, .recovery: nil
        }
    }

    /// Problems a person must fix before these thresholds can be used, each saying what to change.
    public var problems: [String] {
        var problems: [String] = []
        func positive(_ value: Double, _ name: String) {
            if !(value.isFinite && value > 0) { problems.append("\(name) must be a positive number of seconds, not \(value)") }
        }
        for (name, rule) in [("high", high), ("medium", medium), ("low", low), ("veryLow", veryLow)] {
            positive(rule.lossSeconds, "\(name).lossSeconds")
            positive(rule.bandwidthSeconds, "\(name).bandwidthSeconds")
            positive(rule.rttSeconds, "\(name).rttSeconds")
            if let loss = rule.maximumLossRate, !(loss.isFinite && loss >= 0 && loss <= 1) {
                problems.append("\(name).maximumLossRate must be a fraction from 0 to 1 (0.02 is 2 %), not \(loss)")
            }
            if let bandwidth = rule.minimumBandwidth, !(bandwidth.isFinite && bandwidth >= 0) {
                problems.append("\(name).minimumBandwidth must be bits per second, 0 or more, not \(bandwidth)")
            }
            if let rtt = rule.maximumRTTMilliseconds, !(rtt.isFinite && rtt >= 0) {
                problems.append("\(name).maximumRTTMilliseconds must be milliseconds, 0 or more, not \(rtt)")
            }
        }
        positive(stableSeconds, "stableSeconds")
        positive(probeSeconds, "probeSeconds")
        positive(maximumGapSeconds, "maximumGapSeconds")
        return problems
    }
}
