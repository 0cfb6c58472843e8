import Foundation

/// An event as the log holds it: the envelope of DESIGN.md §4 around the event's JSON.
public struct RecordedEvent: Sendable, Hashable {
    /// Dense, gap-free, in commit order; the first event is 1.
    public var position: Int64
    /// The aggregate: `channel-NAME`, `session-ID`, `chat-CHANNEL`.
    public var streamId: String
    /// 1 for a stream's first event.
    public var streamVersion: Int64
    public var eventId: UUID
    public var eventType: String
    public var schemaVersion: Int
    /// The event's JSON as PostgreSQL renders the stored jsonb.
    public var data: Data
    public var metadata: EventMetadata
    public var recordedAt: Date
    /// SHA-256 over the previous event's hash and this event's canonical text.
    public var hash: [UInt8]

    public init(
        position: Int64, streamId: String, streamVersion: Int64, eventId: UUID, eventType: String,
        schemaVersion: Int, data: Data, metadata: EventMetadata, recordedAt: Date, hash: [UInt8]
    ) {
        self.position = position
        self.streamId = streamId
        self.streamVersion = streamVersion
        self.eventId = eventId
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
        self.recordedAt = recordedAt
        self.hash = hash
    }

    /// The data as text, for listings.
    public var dataText: String { String(decoding: data, as: UTF8.self) }
}
