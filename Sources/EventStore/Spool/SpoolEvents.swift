import Foundation

/// The database was away and the log is back: when, why, and what the spool kept meanwhile.
/// Stream `database`. Recorded once per outage by the node that noticed it.
public struct DatabaseOutage: DomainEvent, Hashable {
    public static let eventType = "DatabaseOutage"
    public var startedAt: Date
    public var endedAt: Date
    /// The first failure that started it, and for the embedded cluster how its postmaster ended.
    public var cause: String
    /// Appends replayed from the spool (a replay repeated after a failure counts them again).
    public var spooledAppends: Int
    public var spooledEvents: Int
    /// Of those, appends already in the log (committed before the connection broke).
    public var duplicates: Int
    /// Appends whose expected version failed on replay (see `SpooledAppendConflicted`).
    public var conflicts: Int
    /// Appends the spool refused because it was full, or could not write.
    public var refused: Int
    public var node: String

    public init(
        startedAt: Date, endedAt: Date, cause: String, spooledAppends: Int, spooledEvents: Int, duplicates: Int, conflicts: Int,
        refused: Int, node: String
    ) {
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.cause = cause
        self.spooledAppends = spooledAppends
        self.spooledEvents = spooledEvents
        self.duplicates = duplicates
        self.conflicts = conflicts
        self.refused = refused
        self.node = node
    }
}

extension DatabaseOutage {
    /// An outage the embedded cluster's supervisor repaired before anything had to be spooled.
    static func repaired(downSince: Date, cause: String, node: String) -> DatabaseOutage {
        DatabaseOutage(
            startedAt: downSince, endedAt: Date(), cause: cause, spooledAppends: 0, spooledEvents: 0, duplicates: 0, conflicts: 0,
            refused: 0, node: node)
    }
}

/// A spooled append whose expected version no longer held on replay, kept whole here instead of
/// being appended. Stream `spool-conflicts`.
public struct SpooledAppendConflicted: DomainEvent, Hashable {
    public static let eventType = "SpooledAppendConflicted"
    public struct Event: Codable, Sendable, Hashable {
        public var eventId: UUID
        public var eventType: String
        public var schemaVersion: Int
        public var data: String
        public var metadata: EventMetadata
    }

    public var stream: String
    public var expected: String
    public var actualVersion: Int64?
    public var detail: String
    public var spooledAt: Date
    public var events: [Event]
}

/// Part of a spool file could not be read back (a torn write, a flipped bit): the records before
/// `offset` were replayed, the rest is kept beside the spool as `file`.
public struct SpoolDamaged: DomainEvent, Hashable {
    public static let eventType = "SpoolDamaged"
    public var file: String
    public var offset: Int
    public var bytes: Int
    public var reason: String
    public var replayedRecords: Int
}

extension EventRegistry {
    /// The log's own facts about itself.
    public mutating func registerLogEvents() {
        register(DatabaseOutage.self)
        register(SpooledAppendConflicted.self)
        register(SpoolDamaged.self)
    }
}
