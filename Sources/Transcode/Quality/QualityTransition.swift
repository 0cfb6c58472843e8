import Foundation

/// One transition of the quality machine, as `observe(_:)` returns it.
public struct QualityTransition: Sendable, Hashable {
    public var from: QualityState
    public var to: QualityState
    /// The level RECOVERY probes (only when `to` is RECOVERY).
    public var probing: QualityState?
    public var reason: QualityReason
    /// For people: which figure, against which limit, for how long.
    public var detail: String
    /// The figures of the sample that caused it.
    public var figures: QualityFigures
    /// The machine's clock at the transition.
    public var time: Date

    public init(
        from: QualityState, to: QualityState, probing: QualityState?, reason: QualityReason, detail: String,
        figures: QualityFigures, time: Date
    ) {
        self.from = from
        self.to = to
        self.probing = probing
        self.reason = reason
        self.detail = detail
        self.figures = figures
        self.time = time
    }
}
