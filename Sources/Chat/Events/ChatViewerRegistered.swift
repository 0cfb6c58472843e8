import EventStore
import Foundation

public struct ChatViewerRegistered: DomainEvent, Equatable {
    public static let eventType = "ChatViewerRegistered"
    public var userId: String
    public var name: String
    public var expiresAt: Date

    public init(userId: String, name: String, expiresAt: Date) {
        self.userId = userId
        self.name = name
        self.expiresAt = expiresAt
    }
}
