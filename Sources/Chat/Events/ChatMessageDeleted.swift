import EventStore
import Foundation

public struct ChatMessageDeleted: DomainEvent, Equatable {
    public static let eventType = "ChatMessageDeleted"
    public static let schemaVersion = 2
    public var channel: String
    public var messageId: UUID
    /// The message's author (schema 2), whose key seals `reason`.
    public var userId: String?
    public var reason: PersonalData<ChatModerationReason>?

    public init(channel: String, messageId: UUID, userId: String? = nil, reason: PersonalData<ChatModerationReason>? = nil) {
        self.channel = channel
        self.messageId = messageId
        self.userId = userId
        self.reason = reason
    }
}
