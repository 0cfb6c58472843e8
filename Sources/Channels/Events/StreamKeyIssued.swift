import EventStore
import Foundation

/// Only the key's SHA-256 is recorded; the key itself is shown once to whoever asked for it.
public struct StreamKeyIssued: DomainEvent, Equatable {
    public static let eventType = "StreamKeyIssued"
    public var channelId: UUID
    public var keyId: UUID
    /// Hex SHA-256 of the whole key text.
    public var keyHash: String
    /// The key's last four characters, so people can tell keys apart without seeing them.
    public var keyHint: String

    public init(channelId: UUID, keyId: UUID, keyHash: String, keyHint: String) {
        self.channelId = channelId
        self.keyId = keyId
        self.keyHash = keyHash
        self.keyHint = keyHint
    }
}
