import Foundation

/// Who caused an event.
public struct EventActor: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Codable, Sendable, Hashable {
        case user, moderator, admin, system, encoder
    }

    public var kind: Kind
    /// A user id, `admin`, an encoder's remote address, or a service name for `system`.
    public var id: String

    public init(_ kind: Kind, id: String) {
        self.kind = kind
        self.id = id
    }

    public static func system(_ service: String) -> EventActor { EventActor(.system, id: service) }
    public static let admin = EventActor(.admin, id: "admin")
    /// A named admin (`streamd admins add NAME`).
    public static func admin(named name: String) -> EventActor { EventActor(.admin, id: name) }

    public var description: String { "\(kind.rawValue):\(id)" }
}

/// The envelope's metadata (DESIGN.md §4).
public struct EventMetadata: Codable, Sendable, Hashable {
    public var actor: EventActor
    public var correlationId: UUID?
    public var causationId: UUID?
    public var requestId: String?
    /// Free-form reason a person gave (a revocation's "leaked on stream", a ban's reason).
    public var reason: String?
    /// The node's clock when the event went to the local spool because the database was away
    /// (its `recorded_at` is when it reached the log).
    public var spooledAt: Date?

    public init(
        actor: EventActor, correlationId: UUID? = nil, causationId: UUID? = nil,
        requestId: String? = nil, reason: String? = nil
    ) {
        self.actor = actor
        self.correlationId = correlationId
        self.causationId = causationId
        self.requestId = requestId
        self.reason = reason
    }
}

/// The event another one follows from: its id (the follower's `causationId`) and its correlation.
public struct EventCause: Sendable, Hashable {
    public var eventId: UUID
    public var correlationId: UUID?

    public init(eventId: UUID, correlationId: UUID?) {
        self.eventId = eventId
        self.correlationId = correlationId
    }

    public init(_ event: RecordedEvent) {
        self.init(eventId: event.eventId, correlationId: event.metadata.correlationId)
    }
}

extension EventMetadata {
    /// The metadata of an event that `cause` led to: caused by it, in its correlation (the cause's
    /// own id when it had none, so a chain that starts without a request still hangs together),
    /// with the request id it came from.
    public static func caused(
        by cause: EventCause, actor: EventActor, requestId: String? = nil, reason: String? = nil
    ) -> EventMetadata {
        EventMetadata(
            actor: actor, correlationId: cause.correlationId ?? cause.eventId, causationId: cause.eventId, requestId: requestId,
            reason: reason)
    }

    public static func caused(by event: RecordedEvent, actor: EventActor, reason: String? = nil) -> EventMetadata {
        caused(by: EventCause(event), actor: actor, requestId: event.metadata.requestId, reason: reason)
    }
}
