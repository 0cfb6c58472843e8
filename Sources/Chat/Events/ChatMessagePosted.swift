import EventStore
import Foundation

/// Appended only after the message passed moderation; its `recordedAt` is the message's time.
public struct ChatMessagePosted: DomainEvent, Equatable {
    public static let eventType = "ChatMessagePosted"
    public var channel: String
    public var messageId: UUID
    public var userId: String
    public var name: String
    /// NFKC-normalised text, at most 500 characters.
    public var text: String
    public var nonce: String?

    public init(channel: String, messageId: UUID, userId: String, name: String, text: String, nonce: String?) {
        self.channel = channel
        self.messageId = messageId
        self.userId = userId
        self.name = name
        self.text = text
        self.nonce = nonce
    }
}
