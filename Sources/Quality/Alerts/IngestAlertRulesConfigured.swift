import EventStore

/// A channel's ingest alert rules were set (stream `channel-NAME`); its live sessions are judged by
/// them from their next sample, later sessions from their start.
public struct IngestAlertRulesConfigured: DomainEvent, Hashable {
    public static let eventType = "IngestAlertRulesConfigured"

    public var channelID: String
    public var rules: IngestAlertRules

    public init(channelID: String, rules: IngestAlertRules) {
        self.channelID = channelID
        self.rules = rules
    }
}
