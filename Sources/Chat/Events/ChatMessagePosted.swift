import EventStore
import Foundation

/// Appended only after the message passed moderation; its `recordedAt` is the message's time.
/// Schema 2 seals the author's name and the text under the author's key (`ViewerKeys`); schema 1
/// had them in plain text and is upcast to `.plain`.
public struct ChatMessagePosted: DomainEvent, Equatable {
    public static let eventType = "ChatMessagePosted"
    public static let schemaVersion = 2

    public struct Personal: Codable, Sendable, Hashable {
        public var name: String
        /// NFKC-normalised text, at most 500 characters.
        public var text: String

        public init(name: String, text: String) {
            self.name = name
            self.text = text
        }
    }

    public var channel: String
    public var messageId: UUID
    public var userId: String
    public var personal: PersonalData<Personal>
    public var nonce: String?

    public init(channel: String, messageId: UUID, userId: String, personal: PersonalData<Personal>, nonce: String?) {
        self.channel = channel
        self.messageId = messageId
        self.userId = userId
        self.personal = personal
        self.nonce = nonce
    }

    /// A message with its name and text in plain text (not erasable: the platform seals them).
    public init(channel: String, messageId: UUID, userId: String, name: String, text: String, nonce: String?) {
        self.init(channel: channel, messageId: messageId, userId: userId, personal: .plain(Personal(name: name, text: text)), nonce: nonce)
    }

    /// What the personal fields are sealed for: this event type and the author.
    public static func context(userId: String) -> String { "\(eventType)|\(userId)" }
}
