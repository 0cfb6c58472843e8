import EventStore

/// A rule on a live session's incoming stream has been broken for its persistence time (stream
/// `session-ID`). Appended by the ingest alerts projection, caused by the `IngestStatsSampled`
/// whose interval completed the breach, with an id derived from it.
public struct IngestAlertRaised: DomainEvent, Hashable {
    public static let eventType = "IngestAlertRaised"

    public var sessionID: String
    public var channelID: String
    public var rule: IngestAlertRule
    /// The figure in the interval that raised it (bits per second, fps, seconds, frames, ms).
    public var measured: Double
    /// The rule's limit, in the same unit.
    public var limit: Double
    /// For people: what is wrong and what to change on the encoder.
    public var message: String

    public init(sessionID: String, channelID: String, rule: IngestAlertRule, measured: Double, limit: Double, message: String) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.rule = rule
        self.measured = measured
        self.limit = limit
        self.message = message
    }
}
