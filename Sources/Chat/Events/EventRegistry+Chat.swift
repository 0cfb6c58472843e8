import EventStore

// A room's events live in the stream `chat-CHANNEL`; viewer registrations and erasures in
// `chat.viewers`.
// Who acted (user, moderator, admin) and why are in the envelope's metadata.
extension EventRegistry {
    public mutating func registerChatEvents() {
        register(ChatViewerRegistered.self)
        register(ChatMessagePosted.self)
        register(ChatMessageRejected.self)
        register(ViewerErased.self)
        // Schema 1 kept personal fields in plain text; they read as `.plain`.
        registerUpcaster(
            ChatViewerRegistered.eventType, from: 1, PersonalData<ChatViewerRegistered.Personal>.upcastPlain(["name"], into: "personal"))
        registerUpcaster(
            ChatMessagePosted.eventType, from: 1, PersonalData<ChatMessagePosted.Personal>.upcastPlain(["name", "text"], into: "personal"))
        registerUpcaster(
            ChatMessageRejected.eventType, from: 1,
            PersonalData<ChatMessageRejected.Personal>.upcastPlain(["name", "text", "detail"], into: "personal"))
        register(ChatMessageDeleted.self)
        register(ChatUserTimedOut.self)
        register(ChatUserBanned.self)
        register(ChatUserUnbanned.self)
        register(ChatSettingsChanged.self)
        register(ChatModeratorAdded.self)
        register(ChatModeratorRemoved.self)
        // Schema 2 added a sealed reason (and a delete's author): schema 1 reads without them.
        for type in [ChatMessageDeleted.eventType, ChatUserTimedOut.eventType, ChatUserBanned.eventType] {
            registerUpcaster(type, from: 1) { $0 }
        }
    }
}
