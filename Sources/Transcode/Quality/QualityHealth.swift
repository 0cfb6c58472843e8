/// A live session's health, 0 (unwatchable) to 100 (perfect), from the quality machine's level and
/// the last sample's figures:
///
///     health = base(level) − loss − rtt − bandwidth, clamped to 0…100, rounded
///     base:      HIGH 100, MEDIUM 90, LOW 75, VERY_LOW 55, ERROR 25 (RECOVERY: the level it probes from)
///     loss:      8 points per 1 % lost, at most 40 (2 % → 16, 5 % → 40)
///     rtt:       1 point per 20 ms above 100 ms, at most 20 (300 ms → 10, 500 ms → 20)
///     bandwidth: how far below the current level's floor, at most 20 (half the floor → 10)
///
/// So the level says what viewers get, and the penalties show trouble before it forces a step down.
/// Unknown figures cost nothing.
public enum QualityHealth {
    public static func score(level: QualityState, figures: QualityFigures?, thresholds: QualityThresholds = .default) -> Int {
        let base: Double =
            switch level {
            case .high: 100
            case .medium: 90
            case .low: 75
            case .veryLow: 55
            case .error: 25
            case .recovery: 75
            }
        let figures = (figures ?? QualityFigures()).sanitized
        var penalty = 0.0
        if let loss = figures.lossRate { penalty += Swift.min(40, loss * 100 * 8) }
        if let rtt = figures.rttMilliseconds { penalty += Swift.min(20, Swift.max(0, rtt - 100) / 20) }
        if let bandwidth = figures.bandwidth, let floor = thresholds.rule(for: level)?.minimumBandwidth, floor > 0 {
            penalty += Swift.min(20, 20 * Swift.max(0, 1 - bandwidth / floor))
        }
        let value = Swift.min(100, Swift.max(0, (base - penalty).rounded()))
        return value.isFinite ? Int(value) : 0
    }
}

extension QualityStateMachine {
    /// `QualityHealth.score` of the current level (the one RECOVERY probes from) and last figures.
    public var health: Int { QualityHealth.score(level: level, figures: figures, thresholds: thresholds) }
}
