import EventStore

/// One interval's ingest statistics of a live session.
public struct IngestStatsSampled: DomainEvent, Hashable {
    public static let eventType = "IngestStatsSampled"

    public var sessionID: String
    public var channelID: String
    public var stats: IngestStats

    public init(sessionID: String, channelID: String, stats: IngestStats) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.stats = stats
    }
}
