import EventStore

/// A session's ingest statistics over one window of sampling intervals (schema 2; `IngestStatsWindow`
/// decides where windows end). Schema 1 was one event per interval: it reads as a window of one.
public struct IngestStatsSampled: DomainEvent, Hashable {
    public static let eventType = "IngestStatsSampled"
    public static let schemaVersion = 2

    public var sessionID: String
    public var channelID: String
    /// The window's last interval, every figure (schema 1: the only one).
    public var stats: IngestStats
    /// The whole window; nil in schema 1 events.
    public var window: IngestStatsSummary?

    public init(sessionID: String, channelID: String, stats: IngestStats, window: IngestStatsSummary? = nil) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.stats = stats
        self.window = window
    }

    /// Every interval of the window, in order, with the figures the quality machine reads.
    public var intervals: [IngestStats] {
        guard let window, !window.samples.isEmpty else { return [stats] }
        return window.samples.map(IngestStats.init)
    }

    /// Schema 1 → 2 adds only the optional `window`.
    static func upcastFromVersion1(_ json: JSONValue) throws -> JSONValue { json }
}
