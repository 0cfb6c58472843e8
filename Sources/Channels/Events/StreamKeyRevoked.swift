import EventStore
import Foundation

/// Who revoked it and why are in the envelope's metadata (actor, reason).
public struct StreamKeyRevoked: DomainEvent, Equatable {
    public static let eventType = "StreamKeyRevoked"
    public var channelId: UUID
    public var keyId: UUID

    public init(channelId: UUID, keyId: UUID) {
        self.channelId = channelId
        self.keyId = keyId
    }
}
