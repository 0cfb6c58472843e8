import EventStore

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
