import Foundation

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
