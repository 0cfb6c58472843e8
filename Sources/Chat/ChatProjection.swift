import EventStore
import Foundation
import Logging
import PostgresNIO

/// The chat read models (migrations/0004): rooms' settings, moderators, bans, time-outs, every
/// message with its deletion, and registered viewers. Replayable with
/// `streamd events replay --projection chat`.
public struct ChatProjection: SQLProjection {
    public let name = "chat"
    public let tables = ["chat_viewers", "chat_rooms", "chat_moderators", "chat_messages", "chat_bans", "chat_timeouts"]
    /// `chat-…` rooms and `chat.viewers`.
    public let filter = EventFilter(streamPrefix: "chat")

    public init() {}

    public func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        let actor = event.metadata.actor.description
        let reason = event.metadata.reason
        switch event.eventType {
        case ChatViewerRegistered.eventType:
            let registered = try registry.decode(event, as: ChatViewerRegistered.self)
            try await connection.query(
                """
                INSERT INTO chat_viewers (user_id, name, registered_at, expires_at)
                VALUES (\(registered.userId), \(registered.name), \(event.recordedAt), \(registered.expiresAt))
                ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, expires_at = EXCLUDED.expires_at
                """, logger: logger)
        case ChatMessagePosted.eventType:
            let posted = try registry.decode(event, as: ChatMessagePosted.self)
            try await connection.query(
                """
                INSERT INTO chat_messages (position, message_id, channel, user_id, name, text, sent_at)
                VALUES (\(event.position), \(posted.messageId), \(posted.channel), \(posted.userId), \(posted.name), \(posted.text), \(event.recordedAt))
                """, logger: logger)
        case ChatMessageDeleted.eventType:
            let deleted = try registry.decode(event, as: ChatMessageDeleted.self)
            try await connection.query(
                """
                UPDATE chat_messages SET deleted_position = \(event.position), deleted_by = \(actor), deleted_reason = \(reason)
                WHERE message_id = \(deleted.messageId) AND deleted_position IS NULL
                """, logger: logger)
        case ChatUserTimedOut.eventType:
            let timedOut = try registry.decode(event, as: ChatUserTimedOut.self)
            try await connection.query(
                """
                INSERT INTO chat_timeouts (channel, user_id, until, timed_out_at, timed_out_by, reason)
                VALUES (\(timedOut.channel), \(timedOut.userId), \(timedOut.until), \(event.recordedAt), \(actor), \(reason))
                ON CONFLICT (channel, user_id) DO UPDATE SET until = EXCLUDED.until, timed_out_at = EXCLUDED.timed_out_at,
                    timed_out_by = EXCLUDED.timed_out_by, reason = EXCLUDED.reason
                """, logger: logger)
        case ChatUserBanned.eventType:
            let banned = try registry.decode(event, as: ChatUserBanned.self)
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
}
