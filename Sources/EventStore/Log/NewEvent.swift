import Foundation

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
