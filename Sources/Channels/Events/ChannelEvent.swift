import EventStore
import Foundation

/// A channel aggregate's event, decoded once: what the aggregate, its read model and ingest's key
/// table each fold. `nil` from `init` for any other type; one of these types that does not decode
/// throws.
public enum ChannelEvent: Sendable {
    case created(ChannelCreated)
    case keyIssued(StreamKeyIssued)
    case keyRevoked(StreamKeyRevoked)

    public static let eventTypes = [ChannelCreated.eventType, StreamKeyIssued.eventType, StreamKeyRevoked.eventType]

    public init?(_ event: RecordedEvent, registry: EventRegistry) throws {
        switch event.eventType {
        case ChannelCreated.eventType: self = .created(try registry.decode(event, as: ChannelCreated.self))
        case StreamKeyIssued.eventType: self = .keyIssued(try registry.decode(event, as: StreamKeyIssued.self))
        case StreamKeyRevoked.eventType: self = .keyRevoked(try registry.decode(event, as: StreamKeyRevoked.self))
        default: return nil
        }
    }
}
