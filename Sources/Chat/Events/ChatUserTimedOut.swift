import EventStore
import Foundation

public struct ChatUserTimedOut: DomainEvent, Equatable {
    public static let eventType = "ChatUserTimedOut"
    public static let schemaVersion = 2
    public var channel: String
    public var userId: String
    public var seconds: Int
    public var until: Date
    /// Sealed under `userId`'s key (schema 2).
    public var reason: PersonalData<ChatModerationReason>?

    public init(channel: String, userId: String, seconds: Int, until: Date, reason: PersonalData<ChatModerationReason>? = nil) {
        self.channel = channel
        self.userId = userId
        self.seconds = seconds
        self.until = until
        self.reason = reason
    }
}
