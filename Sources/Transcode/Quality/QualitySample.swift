import Foundation

/// One input of the quality machine: the figures measured over `[time - duration, time]`.
///
/// `time` is the injected clock: the machine never reads a clock of its own, so feeding the same
/// samples reproduces the same transitions (replay).
public struct QualitySample: Sendable, Hashable {
    public var time: Date
    /// Seconds the figures cover (the ingest's sampling interval).
    public var duration: Double
    public var figures: QualityFigures

    public init(time: Date, duration: Double, figures: QualityFigures) {
        self.time = time
        self.duration = duration
        self.figures = figures
    }
}
