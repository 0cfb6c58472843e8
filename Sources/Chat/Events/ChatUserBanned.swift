import EventStore

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
