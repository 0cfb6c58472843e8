import EventStore

// A room's events live in the stream `chat-CHANNEL`; viewer registrations in `chat.viewers`.
// Who acted (user, moderator, admin) and why are in the envelope's metadata.
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
