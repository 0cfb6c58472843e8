import EventStore
import Foundation

// Chat facts. A room's events live in the stream `chat-CHANNEL`; viewer registrations in
// `chat.viewers`. Who acted (user, moderator, admin) and why are in the envelope's metadata.

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

/// A refusal by any rule but plain rate limiting (those are only counted).
public struct ChatMessageRejected: DomainEvent, Equatable {
    public static let eventType = "ChatMessageRejected"
    public var channel: String
    public var userId: String
    public var name: String
    public var text: String
    public var rule: String
    public var detail: String

    public init(channel: String, userId: String, name: String, text: String, rule: String, detail: String) {
        self.channel = channel
        self.userId = userId
        self.name = name
        self.text = text
        self.rule = rule
        self.detail = detail
    }
}

public struct ChatMessageDeleted: DomainEvent, Equatable {
    public static let eventType = "ChatMessageDeleted"
    public var channel: String
    public var messageId: UUID

    public init(channel: String, messageId: UUID) {
        self.channel = channel
        self.messageId = messageId
    }
}

public struct ChatUserTimedOut: DomainEvent, Equatable {
    public static let eventType = "ChatUserTimedOut"
    public var channel: String
    public var userId: String
    public var seconds: Int
    public var until: Date

    public init(channel: String, userId: String, seconds: Int, until: Date) {
        self.channel = channel
        self.userId = userId
        self.seconds = seconds
        self.until = until
    }
}

/// Also hides the user's messages of the `ChatRoomState.banHideWindow` before the ban.
public struct ChatUserBanned: DomainEvent, Equatable {
    public static let eventType = "ChatUserBanned"
    public var channel: String
    public var userId: String

    public init(channel: String, userId: String) {
        self.channel = channel
        self.userId = userId
    }
}

/// Restores what the ban hid: the log still has every message.
public struct ChatUserUnbanned: DomainEvent, Equatable {
    public static let eventType = "ChatUserUnbanned"
    public var channel: String
    public var userId: String

    public init(channel: String, userId: String) {
        self.channel = channel
        self.userId = userId
    }
}

/// The room's whole settings after the change.
public struct ChatSettingsChanged: DomainEvent, Equatable {
    public static let eventType = "ChatSettingsChanged"
    public var channel: String
    public var settings: ChatSettings

    public init(channel: String, settings: ChatSettings) {
        self.channel = channel
        self.settings = settings
    }
}

public struct ChatModeratorAdded: DomainEvent, Equatable {
    public static let eventType = "ChatModeratorAdded"
    public var channel: String
    public var userId: String

    public init(channel: String, userId: String) {
        self.channel = channel
        self.userId = userId
    }
}

public struct ChatModeratorRemoved: DomainEvent, Equatable {
    public static let eventType = "ChatModeratorRemoved"
    public var channel: String
    public var userId: String

    public init(channel: String, userId: String) {
        self.channel = channel
        self.userId = userId
    }
}

extension EventRegistry {
    public mutating func registerChatEvents() {
        register(ChatViewerRegistered.self)
        register(ChatMessagePosted.self)
        register(ChatMessageRejected.self)
        register(ChatMessageDeleted.self)
        register(ChatUserTimedOut.self)
        register(ChatUserBanned.self)
        register(ChatUserUnbanned.self)
        register(ChatSettingsChanged.self)
        register(ChatModeratorAdded.self)
        register(ChatModeratorRemoved.self)
    }
}

public enum ChatStream {
    public static let viewers = "chat.viewers"
    public static func room(_ channel: String) -> String { "chat-\(channel)" }
    /// The channel of a room stream, or nil for other streams.
    public static func channel(of stream: String) -> String? {
        stream.hasPrefix("chat-") ? String(stream.dropFirst(5)) : nil
    }
}
