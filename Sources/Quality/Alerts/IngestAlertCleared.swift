import EventStore

/// A raised ingest alert ended: its rule held for the clear time, or the channel turned the rule
/// off (stream `session-ID`). A session's end ends its alerts without this event: nothing of a
/// session follows its `StreamEnded`.
public struct IngestAlertCleared: DomainEvent, Hashable {
    public static let eventType = "IngestAlertCleared"

    public var sessionID: String
    public var channelID: String
    public var rule: IngestAlertRule
    /// Ingest time from the raise to the clear (the sampled intervals between them).
    public var durationSeconds: Double

    public init(sessionID: String, channelID: String, rule: IngestAlertRule, durationSeconds: Double) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.rule = rule
        self.durationSeconds = durationSeconds
    }
}
