import EventStore

/// Also hides the user's messages of the `ChatRoomState.banHideWindow` before the ban.
public struct ChatUserBanned: DomainEvent, Equatable {
    public static let eventType = "ChatUserBanned"
    public static let schemaVersion = 2
    public var channel: String
    public var userId: String
    /// Sealed under `userId`'s key (schema 2).
    public var reason: PersonalData<ChatModerationReason>?

    public init(channel: String, userId: String, reason: PersonalData<ChatModerationReason>? = nil) {
        self.channel = channel
        self.userId = userId
        self.reason = reason
    }
}
