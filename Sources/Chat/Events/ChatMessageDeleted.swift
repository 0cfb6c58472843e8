import EventStore
import Foundation

public struct ChatMessageDeleted: DomainEvent, Equatable {
    public static let eventType = "ChatMessageDeleted"
    public var channel: String
    public var messageId: UUID

    public init(channel: String, messageId: UUID) {
        self.channel = channel
        self.messageId = messageId
    }
}
