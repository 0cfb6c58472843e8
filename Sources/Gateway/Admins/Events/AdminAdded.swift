import EventStore

/// An admin identity was added, or (for a name already live) given a new token. The actor says
/// who added it. Only the token's SHA-256 is kept: the token itself is shown once and never stored.
public struct AdminAdded: DomainEvent, Hashable {
    public static let eventType = "AdminAdded"

    public var name: String
    /// Lowercase hex SHA-256 of the token's UTF-8 bytes.
    public var tokenHash: String

    public init(name: String, tokenHash: String) {
        self.name = name
        self.tokenHash = tokenHash
    }
}
