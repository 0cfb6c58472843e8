import EventStore
import Logging

/// The reasons moderators gave, opened for an audit (`events timeline`, the session report): a
/// delete's, time-out's or ban's reason is sealed under the key of the user it is about.
public enum ModerationReasons {
    /// The reason of each moderation event in `events` that has one, by position: the opened
    /// text, `[erased]` once the user's key is gone, or schema 1's `metadata.reason`.
    public static func open(_ events: [RecordedEvent], store: EventStore, keys: ViewerKeys = ViewerKeys()) async throws -> [Int64: String] {
        var sealed: [(position: Int64, type: String, user: String, reason: PersonalData<ChatModerationReason>)] = []
        for event in events {
            guard let decoded = try? store.registry.decode(event) else { continue }
            switch decoded {
            case let deleted as ChatMessageDeleted:
                if let reason = deleted.reason, let user = deleted.userId { sealed.append((event.position, event.eventType, user, reason)) }
            case let timedOut as ChatUserTimedOut:
                if let reason = timedOut.reason { sealed.append((event.position, event.eventType, timedOut.userId, reason)) }
            case let banned as ChatUserBanned:
                if let reason = banned.reason { sealed.append((event.position, event.eventType, banned.userId, reason)) }
            default:
                continue
            }
        }
        guard !sealed.isEmpty else { return [:] }
        let logger = store.logger
        return try await store.readModels.withConnection { connection in
            var reasons: [Int64: String] = [:]
            for item in sealed {
                let opened = try await item.reason.open(
                    with: keys, context: ChatModerationReason.context(item.type, userId: item.user), on: connection, logger: logger)
                reasons[item.position] = opened?.reason ?? "[erased]"
            }
            return reasons
        }
    }
}
