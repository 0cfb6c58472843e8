import EventStore
import Foundation

/// The quality machine of a live session changed state (stream `session-ID`). Appended by the
/// quality projection with an event id derived from the sample that caused it.
public struct QualityChanged: DomainEvent, Hashable {
    public static let eventType = "QualityChanged"

    public var sessionID: String
    public var channelID: String
    public var from: QualityState
    public var to: QualityState
    /// The level RECOVERY probes (only when `to` is RECOVERY).
    public var probing: QualityState?
    public var reason: QualityReason
    /// For people: which figure, against which limit, for how long.
    public var detail: String
    /// The figures of the sample that caused it.
    public var figures: QualityFigures
    /// The machine's clock at the transition (the sample's time).
    public var at: Date

    public init(sessionID: String, channelID: String, transition: QualityTransition) {
        self.sessionID = sessionID
        self.channelID = channelID
        from = transition.from
        to = transition.to
        probing = transition.probing
        reason = transition.reason
        detail = transition.detail
        figures = transition.figures
        at = transition.time
    }
}
