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
