import Foundation

/// The quality state machine of DESIGN.md §5, sans I/O: a value fed with samples (each carrying its
/// own time: the clock is injected), returning the transitions each sample caused. Replaying the
/// same samples reproduces the same transitions; the value is `Codable` so that a read model can
/// keep it between events and a restart continues exactly where it stopped.
///
/// Rules:
/// - **Windows.** Every level's rule is watched all the time, whatever the current state: a figure
///   "past its limit for W seconds" means every sample since `W` seconds ago breached it (a sample
///   covers `[time - duration, time]`; 50 ms of timer jitter is forgiven). A sample without a
///   figure (nil) does not breach; a pause longer than `maximumGapSeconds` restarts every window.
/// - **Down, fast, and as far as needed.** When the current level's rule trips, the machine goes to
///   the best lower level whose own rule has not tripped too (each with its own limits and
///   windows), ERROR when even VERY_LOW's has. So loss of 4 % for 5 s takes HIGH straight to LOW
///   (past MEDIUM's 3 %), and 400 kbps takes HIGH to VERY_LOW after 10 s, then ERROR after 20 s.
///   A trip also ends a probe (RECOVERY).
/// - **RTT** (the third input) is congestion: above the level's limit for its window it trips the
///   level exactly like loss (defaults HIGH 300 ms, MEDIUM 500 ms, LOW 800 ms, for 5 s); VERY_LOW
///   has no RTT limit, because only a lack of bandwidth should take video away.
/// - **Up, slowly, one step at a time.** After `stableSeconds` (60) in the current level during
///   which no sample breached the next level's rule, the machine enters RECOVERY probing that
///   level; after `probeSeconds` (10) more without a breach it confirms it. One breach during the
///   probe sends it back (and the 60 s start again). Alternating good and bad samples therefore
///   neither trip a level (no window fills) nor climb (no 60 s run): no flapping.
public struct QualityStateMachine: Sendable, Hashable, Codable {
    public private(set) var thresholds: QualityThresholds
    /// The level whose renditions are on; never RECOVERY.
    public private(set) var level: QualityState
    /// The level being probed while in RECOVERY, else nil.
    public private(set) var probing: QualityState?
    /// The figures of the last sample.
    public private(set) var figures: QualityFigures?
    /// Clock readings as seconds since the reference date (exact through JSON, unlike dates).
    private var since: Double?
    private var probeStarted: Double?
    private var lastTime: Double?
    /// Per level with a rule (HIGH … VERY_LOW, by rank).
    private var windows: [Windows]

    struct Windows: Sendable, Hashable, Codable {
        /// Start of the current unbroken breach of each limit.
        var loss: Double?
        var bandwidth: Double?
        var rtt: Double?
        /// Start of the current run of samples breaching none of the rule's limits.
        var clean: Double?
    }

    static let jitter = 0.05

    public init(thresholds: QualityThresholds = .default, initial: QualityState = .high) {
        self.thresholds = thresholds
        self.level = initial == .recovery ? .high : initial
        self.windows = Array(repeating: Windows(), count: 4)
    }

    public var state: QualityState { probing == nil ? level : .recovery }

    /// When the current state began (the clock of the sample that caused it).
    public var stateSince: Date? { since.map(Date.init(timeIntervalSinceReferenceDate:)) }

    /// New limits take effect from the next sample; running windows are kept.
    public mutating func configure(_ thresholds: QualityThresholds) {
        self.thresholds = thresholds
    }

    /// Forgets every running window (an encoder reconnected: earlier figures say nothing now).
    public mutating func restartWindows() {
        windows = Array(repeating: Windows(), count: 4)
        lastTime = nil
    }

    /// Feeds one sample; returns the transitions it caused (at most one today; a list so that
    /// callers need not change if a sample ever causes two). A sample older than the previous one
    /// is ignored.
    public mutating func observe(_ sample: QualitySample) -> [QualityTransition] {
        let time = sample.time.timeIntervalSinceReferenceDate
        guard time.isFinite else { return [] }
        if let lastTime, time < lastTime { return [] }
        let duration = sample.duration.isFinite ? Swift.min(Swift.max(sample.duration, 0), thresholds.maximumGapSeconds) : 0
        let start = time - duration
        if let lastTime, start - lastTime > thresholds.maximumGapSeconds {
            windows = Array(repeating: Windows(), count: 4)
        }
        lastTime = time
        if since == nil { since = start }
        let figures = sample.figures.sanitized
        self.figures = figures

        for rank in windows.indices {
            guard let rule = thresholds.rule(for: QualityState.levels[rank]) else { continue }
            let breach = Self.breaches(rule, figures)
            windows[rank].loss = breach.loss ? (windows[rank].loss ?? start) : nil
            windows[rank].bandwidth = breach.bandwidth ? (windows[rank].bandwidth ?? start) : nil
            windows[rank].rtt = breach.rtt ? (windows[rank].rtt ?? start) : nil
            windows[rank].clean = breach.any ? nil : (windows[rank].clean ?? start)
        }

        // Down: the current level's rule tripped.
        if let trip = tripped(level, at: time) {
            var target = QualityState.error
            var candidate = level.down
            while let next = candidate, next != .error {
                if tripped(next, at: time) == nil {
                    target = next
                    break
                }
                candidate = next.down
            }
            let from = state
            probing = nil
            probeStarted = nil
            level = target
            since = time
            return [transition(from: from, to: target, reason: trip.reason, detail: trip.detail, time: time)]
        }

        // A probe either fails, confirms, or goes on.
        if let probe = probing {
            let rank = probe.rank ?? 0
            if windows[rank].clean == nil {
                probing = nil
                probeStarted = nil
                since = time
                let detail = thresholds.rule(for: probe).map { Self.describeBreach($0, figures) } ?? ""
                return [transition(from: .recovery, to: level, reason: .probeFailed, detail: "\(probe) not held: \(detail)", time: time)]
            }
            if let started = probeStarted, time - started >= thresholds.probeSeconds - Self.jitter {
                probing = nil
                probeStarted = nil
                level = probe
                since = time
                return [
                    transition(
                        from: .recovery, to: probe, reason: .confirmed,
                        detail: "\(probe) held for \(Self.seconds(thresholds.probeSeconds))", time: time)
                ]
            }
            return []
        }

        // Up: stable long enough for the next level.
        if let up = level.up, let rank = up.rank, let clean = windows[rank].clean, let since {
            let stable = thresholds.stableSeconds - Self.jitter
            if time - clean >= stable, time - since >= stable {
                let from = level
                probing = up
                probeStarted = time
                self.since = time
                return [
                    QualityTransition(
                        from: from, to: .recovery, probing: up, reason: .stable,
                        detail: "conditions good enough for \(up) for \(Self.seconds(thresholds.stableSeconds)); probing \(up)",
                        figures: figures, time: Date(timeIntervalSinceReferenceDate: time))
                ]
            }
        }
        return []
    }

    private func transition(from: QualityState, to: QualityState, reason: QualityReason, detail: String, time: Double) -> QualityTransition
    {
        QualityTransition(
            from: from, to: to, probing: nil, reason: reason, detail: detail, figures: figures ?? QualityFigures(),
            time: Date(timeIntervalSinceReferenceDate: time))
    }

    /// Whether `level`'s rule has tripped at `time`: its reason and a description, loss first, then
    /// bandwidth, then RTT.
    private func tripped(_ level: QualityState, at time: Double) -> (reason: QualityReason, detail: String)? {
        guard let rank = level.rank, rank < windows.count, let rule = thresholds.rule(for: level) else { return nil }
        let window = windows[rank]
        let figures = self.figures ?? QualityFigures()
        func held(_ start: Double?, _ seconds: Double) -> Bool {
            guard let start else { return false }
            return time - start >= seconds - Self.jitter
        }
        if held(window.loss, rule.lossSeconds), let limit = rule.maximumLossRate, let loss = figures.lossRate {
            return (.loss, "loss \(Self.percent(loss)) above \(level)'s \(Self.percent(limit)) for \(Self.seconds(rule.lossSeconds))")
        }
        if held(window.bandwidth, rule.bandwidthSeconds), let floor = rule.minimumBandwidth, let bandwidth = figures.bandwidth {
            return (
                .bandwidth,
                "bandwidth \(Self.bits(bandwidth)) below \(level)'s \(Self.bits(floor)) for \(Self.seconds(rule.bandwidthSeconds))"
            )
        }
        if held(window.rtt, rule.rttSeconds), let limit = rule.maximumRTTMilliseconds, let rtt = figures.rttMilliseconds {
            return (.rtt, "RTT \(Self.milliseconds(rtt)) above \(level)'s \(Self.milliseconds(limit)) for \(Self.seconds(rule.rttSeconds))")
        }
        return nil
    }

    static func breaches(_ rule: QualityThresholds.Rule, _ figures: QualityFigures) -> (loss: Bool, bandwidth: Bool, rtt: Bool, any: Bool) {
        var loss = false, bandwidth = false, rtt = false
        if let limit = rule.maximumLossRate, let value = figures.lossRate { loss = value > limit }
        if let floor = rule.minimumBandwidth, let value = figures.bandwidth { bandwidth = value < floor }
        if let limit = rule.maximumRTTMilliseconds, let value = figures.rttMilliseconds { rtt = value > limit }
        return (loss, bandwidth, rtt, loss || bandwidth || rtt)
    }

    static func describeBreach(_ rule: QualityThresholds.Rule, _ figures: QualityFigures) -> String {
        let breach = breaches(rule, figures)
        var parts: [String] = []
        if breach.loss, let value = figures.lossRate, let limit = rule.maximumLossRate {
            parts.append("loss \(percent(value)) above \(percent(limit))")
        }
        if breach.bandwidth, let value = figures.bandwidth, let floor = rule.minimumBandwidth {
            parts.append("bandwidth \(bits(value)) below \(bits(floor))")
        }
        if breach.rtt, let value = figures.rttMilliseconds, let limit = rule.maximumRTTMilliseconds {
            parts.append("RTT \(milliseconds(value)) above \(milliseconds(limit))")
        }
        return parts.joined(separator: ", ")
    }

    // Formatting is locale-free, so the same figures always read the same in events.
    static func percent(_ fraction: Double) -> String { String(format: "%.1f %%", fraction * 100) }

    static func bits(_ perSecond: Double) -> String {
        perSecond >= 1_000_000 ? String(format: "%.2f Mbps", perSecond / 1_000_000) : String(format: "%.0f kbps", perSecond / 1_000)
    }

    static func milliseconds(_ value: Double) -> String { String(format: "%.0f ms", value) }

    static func seconds(_ value: Double) -> String { String(format: "%g s", value) }
}
