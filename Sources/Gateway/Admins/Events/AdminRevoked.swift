import EventStore

/// An admin identity was revoked: its token is refused from now on, on every node. The actor says
/// who revoked it, the metadata's reason why.
public struct AdminRevoked: DomainEvent, Hashable {
    public static let eventType = "AdminRevoked"

    public var name: String

    public init(name: String) {
        self.name = name
    }
}
