import Foundation

/// An open ingest alert: what `IngestAlertRaised` said, and when.
public struct IngestAlert: Sendable, Hashable, Codable {
    public var rule: IngestAlertRule
    public var measured: Double
    public var limit: Double
    public var message: String
    /// The recorded time of the statistics that raised it.
    public var since: Date

    public init(rule: IngestAlertRule, measured: Double, limit: Double, message: String, since: Date) {
        self.rule = rule
        self.measured = measured
        self.limit = limit
        self.message = message
        self.since = since
    }
}
