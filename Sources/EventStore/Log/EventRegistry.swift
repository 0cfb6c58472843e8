import Foundation

/// Decodes stored events back to their Swift types, upcasting older schema versions first.
///
/// An upcaster turns the JSON of version `v` into the JSON of version `v + 1`; a stored event is
/// never rewritten, so every historical version stays readable through the chain.
public struct EventRegistry: Sendable {
    public typealias Upcaster = @Sendable (JSONValue) throws -> JSONValue

    private var decoders: [String: @Sendable (Data) throws -> any DomainEvent] = [:]
    private var currentVersions: [String: Int] = [:]
    private var upcasters: [String: [Int: Upcaster]] = [:]

    public init() {}

    public mutating func register<E: DomainEvent>(_ type: E.Type) {
        decoders[E.eventType] = { data in try EventCoding.decoder().decode(E.self, from: data) }
        currentVersions[E.eventType] = E.schemaVersion
    }

    /// Registers the step from `version` to `version + 1` of `eventType`.
    public mutating func registerUpcaster(_ eventType: String, from version: Int, _ upcaster: @escaping Upcaster) {
        upcasters[eventType, default: [:]][version] = upcaster
    }

    public func isRegistered(_ eventType: String) -> Bool { decoders[eventType] != nil }

    /// The event's data at the registered (current) schema version.
    public func upcastData(_ event: RecordedEvent) throws -> Data {
        guard let target = currentVersions[event.eventType] else {
            throw EventStoreError.unknownEventType(event.eventType)
        }
        if event.schemaVersion == target { return event.data }
        guard event.schemaVersion < target else {
            throw EventStoreError.undecodable(
                type: event.eventType, position: event.position,
                reason: "stored schema version \(event.schemaVersion) is newer than this build's \(target); upgrade streamd")
        }
        var json = try EventCoding.decoder().decode(JSONValue.self, from: event.data)
        for version in event.schemaVersion..<target {
            guard let step = upcasters[event.eventType]?[version] else {
                throw EventStoreError.undecodable(
                    type: event.eventType, position: event.position,
                    reason: "no upcaster from schema version \(version) to \(version + 1)")
            }
            json = try step(json)
        }
        return try EventCoding.encoder().encode(json)
    }

    public func decode(_ event: RecordedEvent) throws -> any DomainEvent {
        guard let decode = decoders[event.eventType] else { throw EventStoreError.unknownEventType(event.eventType) }
        do {
            return try decode(try upcastData(event))
        } catch let error as EventStoreError {
            throw error
        } catch {
            throw EventStoreError.undecodable(type: event.eventType, position: event.position, reason: "\(error)")
        }
    }

    public func decode<E: DomainEvent>(_ event: RecordedEvent, as type: E.Type) throws -> E {
        guard let value = try decode(event) as? E else {
            throw EventStoreError.undecodable(type: event.eventType, position: event.position, reason: "not a \(E.self)")
        }
        return value
    }

    public mutating func merge(_ other: EventRegistry) {
        decoders.merge(other.decoders) { _, new in new }
        currentVersions.merge(other.currentVersions) { _, new in new }
        for (type, steps) in other.upcasters { upcasters[type, default: [:]].merge(steps) { _, new in new } }
    }
}
