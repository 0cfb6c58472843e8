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

/// An event about to be appended.
public struct NewEvent: Sendable, Hashable {
    /// Retrying an append with the same ids is idempotent.
    public var eventId: UUID
    public var eventType: String
    public var schemaVersion: Int
    /// JSON text of the event.
    public var data: String
    public var metadata: EventMetadata

    public init(eventId: UUID = UUID(), eventType: String, schemaVersion: Int, data: String, metadata: EventMetadata) {
        self.eventId = eventId
        self.eventType = eventType
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
    }

    public init<E: DomainEvent>(_ event: E, metadata: EventMetadata, eventId: UUID = UUID()) throws {
        self.init(
            eventId: eventId, eventType: E.eventType, schemaVersion: E.schemaVersion,
            data: try EventCoding.encodeString(event), metadata: metadata)
    }
}

/// The one JSON dialect of the log: ISO 8601 dates, sorted keys.
public enum EventCoding {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatDate(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseDate(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 date: \(text)")
            }
            return date
        }
        return decoder
    }

    public static func encodeString<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder().encode(value), as: UTF8.self)
    }

    public static func formatDate(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    public static func parseDate(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: .iso8601)
    }
}

/// The whole envelope as JSON for people and tools (`GET /v1/events`, `streamd events list --json`),
/// with the event's data inline rather than as a string.
public struct RecordedEventView: Encodable, Sendable {
    public var position: Int64
    public var streamId: String
    public var streamVersion: Int64
    public var eventId: UUID
    public var type: String
    public var schemaVersion: Int
    public var data: JSONValue
    public var metadata: EventMetadata
    public var recordedAt: Date
    public var hash: String

    public init(_ event: RecordedEvent) {
        position = event.position
        streamId = event.streamId
        streamVersion = event.streamVersion
        eventId = event.eventId
        type = event.eventType
        schemaVersion = event.schemaVersion
        data = (try? EventCoding.decoder().decode(JSONValue.self, from: event.data)) ?? .null
        metadata = event.metadata
        recordedAt = event.recordedAt
        hash = event.hash.map { String(format: "%02x", $0) }.joined()
    }
}
