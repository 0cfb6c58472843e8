import EventStore
import Foundation
import Logging
import PostgresNIO

/// The chat read models (migrations/0004, 0013): rooms' settings, moderators, bans, time-outs,
/// every message with its deletion, and registered viewers; names and texts opened with the
/// viewers' keys, blanked (`erased_position`) by `ViewerErased`. Replayable with
/// `streamd events replay --projection chat`.
public struct ChatProjection: SQLProjection {
    public let name = "chat"
    public let tables = ["chat_viewers", "chat_rooms", "chat_moderators", "chat_messages", "chat_bans", "chat_timeouts"]
    /// `chat-…` rooms and `chat.viewers`.
    public let filter = EventFilter(streamPrefix: "chat")

    /// Opens sealed names and texts; shared with the node's `ChatService` so an erasure drops
    /// the keys for both.
    let keys: ViewerKeys

    public init(keys: ViewerKeys = ViewerKeys()) { self.keys = keys }

    public func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        let actor = event.metadata.actor.description
        switch event.eventType {
        case ChatViewerRegistered.eventType:
            let registered = try registry.decode(event, as: ChatViewerRegistered.self)
            let name = try await registered.personal.open(
                with: keys, context: ChatViewerRegistered.context(userId: registered.userId), on: connection, logger: logger)?.name
            try await connection.query(
                """
                INSERT INTO chat_viewers (user_id, name, registered_at, expires_at)
                VALUES (\(registered.userId), \(name ?? ChatMessageView.erasedMarker), \(event.recordedAt), \(registered.expiresAt))
                ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, expires_at = EXCLUDED.expires_at
                """, logger: logger)
        case ChatMessagePosted.eventType:
            let posted = try registry.decode(event, as: ChatMessagePosted.self)
            // Erased before this model saw it: stored blank, as a `ViewerErased` leaves it.
            let personal = try await posted.personal.open(
                with: keys, context: ChatMessagePosted.context(userId: posted.userId), on: connection, logger: logger)
            let erased = ChatMessageView.erasedMarker
            try await connection.query(
                """
                INSERT INTO chat_messages (position, message_id, channel, user_id, name, text, sent_at)
                VALUES (\(event.position), \(posted.messageId), \(posted.channel), \(posted.userId), \(personal?.name ?? erased),
                        \(personal?.text ?? erased), \(event.recordedAt))
                """, logger: logger)
        case ViewerErased.eventType:
            let erased = try registry.decode(event, as: ViewerErased.self)
            keys.forget(userId: erased.userId, keyIds: erased.keyIds)
            let marker = ChatMessageView.erasedMarker
            try await connection.query(
                """
                UPDATE chat_messages SET name = \(marker), text = \(marker), erased_position = \(event.position)
                WHERE user_id = \(erased.userId) AND position < \(event.position) AND erased_position IS NULL
                """, logger: logger)
            try await connection.query(
                """
                UPDATE chat_viewers SET name = \(marker), erased_position = \(event.position)
                WHERE user_id = \(erased.userId) AND erased_position IS NULL
                """, logger: logger)
            // Takedown reasons about them (sealed ones read as erased in a rebuild; schema 1's too).
            try await connection.query(
                "UPDATE chat_messages SET deleted_reason = NULL WHERE user_id = \(erased.userId) AND deleted_reason IS NOT NULL",
                logger: logger)
            try await connection.query(
                "UPDATE chat_bans SET reason = NULL WHERE user_id = \(erased.userId) AND reason IS NOT NULL", logger: logger)
            try await connection.query(
                "UPDATE chat_timeouts SET reason = NULL WHERE user_id = \(erased.userId) AND reason IS NOT NULL", logger: logger)
        case ChatMessageDeleted.eventType:
            let deleted = try registry.decode(event, as: ChatMessageDeleted.self)
            let reason = try await takedownReason(deleted.reason, of: event, about: deleted.userId, connection, logger)
            try await connection.query(
                """
                UPDATE chat_messages SET deleted_position = \(event.position), deleted_by = \(actor), deleted_reason = \(reason)
                WHERE channel = \(deleted.channel) AND message_id = \(deleted.messageId) AND deleted_position IS NULL
                """, logger: logger)
        case ChatUserTimedOut.eventType:
            let timedOut = try registry.decode(event, as: ChatUserTimedOut.self)
            let reason = try await takedownReason(timedOut.reason, of: event, about: timedOut.userId, connection, logger)
            try await connection.query(
                """
                INSERT INTO chat_timeouts (channel, user_id, until, timed_out_at, timed_out_by, reason)
                VALUES (\(timedOut.channel), \(timedOut.userId), \(timedOut.until), \(event.recordedAt), \(actor), \(reason))
                ON CONFLICT (channel, user_id) DO UPDATE SET until = EXCLUDED.until, timed_out_at = EXCLUDED.timed_out_at,
                    timed_out_by = EXCLUDED.timed_out_by, reason = EXCLUDED.reason
                """, logger: logger)
        case ChatUserBanned.eventType:
            let banned = try registry.decode(event, as: ChatUserBanned.self)
            let reason = try await takedownReason(banned.reason, of: event, about: banned.userId, connection, logger)
            try await connection.query(
                """
                INSERT INTO chat_bans (channel, user_id, banned_position, banned_at, banned_by, reason)
                SELECT \(banned.channel), \(banned.userId), \(event.position), \(event.recordedAt), \(actor), \(reason)
                WHERE NOT EXISTS (SELECT 1 FROM chat_bans WHERE channel = \(banned.channel) AND user_id = \(banned.userId) AND unbanned_position IS NULL)
                """, logger: logger)
        case ChatUserUnbanned.eventType:
            let unbanned = try registry.decode(event, as: ChatUserUnbanned.self)
            try await connection.query(
                """
                UPDATE chat_bans SET unbanned_position = \(event.position), unbanned_at = \(event.recordedAt), unbanned_by = \(actor)
                WHERE channel = \(unbanned.channel) AND user_id = \(unbanned.userId) AND unbanned_position IS NULL
                """, logger: logger)
        case ChatSettingsChanged.eventType:
            let changed = try registry.decode(event, as: ChatSettingsChanged.self)
            let settings = try EventCoding.encodeString(changed.settings)
            try await connection.query(
                """
                INSERT INTO chat_rooms (channel, settings, changed_at, changed_by) VALUES (\(changed.channel), \(settings), \(event.recordedAt), \(actor))
                ON CONFLICT (channel) DO UPDATE SET settings = EXCLUDED.settings, changed_at = EXCLUDED.changed_at, changed_by = EXCLUDED.changed_by
                """, logger: logger)
        case ChatModeratorAdded.eventType:
            let added = try registry.decode(event, as: ChatModeratorAdded.self)
            try await connection.query(
                """
                INSERT INTO chat_moderators (channel, user_id, added_at, added_by) VALUES (\(added.channel), \(added.userId), \(event.recordedAt), \(actor))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        case ChatModeratorRemoved.eventType:
            let removed = try registry.decode(event, as: ChatModeratorRemoved.self)
            try await connection.query(
                "DELETE FROM chat_moderators WHERE channel = \(removed.channel) AND user_id = \(removed.userId)", logger: logger)
        default:
            break
        }
    }

    /// A takedown's reason: sealed about the user (schema 2; nil once they are erased), or the
    /// metadata's (schema 1).
    private func takedownReason(
        _ sealed: PersonalData<ChatModerationReason>?, of event: RecordedEvent, about userId: String?, _ connection: PostgresConnection,
        _ logger: Logger
    ) async throws -> String? {
        guard let sealed, let userId else { return event.metadata.reason }
        return try await sealed.open(
            with: keys, context: ChatModerationReason.context(event.eventType, userId: userId), on: connection, logger: logger)?.reason
    }
}
