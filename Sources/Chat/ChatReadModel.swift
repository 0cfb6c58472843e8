import EventStore
import Foundation
import Logging
import PostgresNIO

/// Reads of the chat read model (migrations/0004: rooms, moderators, bans, timeouts, messages),
/// which `ChatProjection` keeps.
struct ChatReadModel: Sendable {
    let store: EventStore
    var logger: Logger { store.logger }

    /// A room's state as of the read model's checkpoint, read in one snapshot: settings,
    /// moderators, live bans and timeouts, and the most recent messages.
    func room(_ channel: String) async throws -> ChatRoomState {
        let logger = self.logger
        let decoder = EventCoding.decoder()
        return try await store.readModels.withTransaction { connection -> ChatRoomState in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
            var checkpoint: Int64 = 0
            for try await position in try await connection.query(
                "SELECT position FROM projection_checkpoints WHERE name = 'chat'", logger: logger
            ).decode(Int64.self) {
                checkpoint = position
            }
            var state = ChatRoomState(channel: channel, position: checkpoint)
            for try await settings in try await connection.query(
                "SELECT settings FROM chat_rooms WHERE channel = \(channel)", logger: logger
            ).decode(String.self) {
                if let decoded = try? decoder.decode(ChatSettings.self, from: Data(settings.utf8)) { state.settings = decoded }
            }
            for try await user in try await connection.query(
                "SELECT user_id FROM chat_moderators WHERE channel = \(channel)", logger: logger
            ).decode(String.self) {
                state.moderators.insert(user)
            }
            for try await (user, position, at) in try await connection.query(
                "SELECT user_id, banned_position, banned_at FROM chat_bans WHERE channel = \(channel) AND unbanned_position IS NULL",
                logger: logger
            ).decode((String, Int64, Date).self) {
                state.bans[user] = ChatRoomState.Ban(position: position, at: at)
            }
            for try await (user, until) in try await connection.query(
                "SELECT user_id, until FROM chat_timeouts WHERE channel = \(channel) AND until > now()", logger: logger
            ).decode((String, Date).self) {
                state.timeouts[user] = until
            }
            var recent: [ChatRoomState.Recent] = []
            for try await (position, id, user, name, text, sentAt, deleted) in try await connection.query(
                """
                SELECT position, message_id, user_id, name, text, sent_at, deleted_position IS NOT NULL FROM chat_messages
                WHERE channel = \(channel) ORDER BY position DESC LIMIT \(ChatRoomState.recentLimit)
                """, logger: logger
            ).decode((Int64, UUID, String, String, String, Date, Bool).self) {
                recent.append(
                    .init(
                        view: ChatMessageView(id: id, userId: user, name: name, text: text, sentAt: sentAt, position: position),
                        deleted: deleted))
            }
            for message in recent.reversed() { state.restore(message) }
            return state
        }
    }

    func messageExists(_ channel: String, _ id: UUID) async throws -> Bool {
        let rows = try await store.readModels.query(
            "SELECT 1 FROM chat_messages WHERE channel = \(channel) AND message_id = \(id)", logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// Messages sent in [from, to), with deletions and bans as of `asOf` (a log position; now when
    /// nil), oldest first.
    func history(_ channel: String, from: Date, to: Date, asOf: Int64?, after: Int64, limit: Int) async throws -> [ChatMessageView] {
        let asOf = asOf ?? Int64.max
        let window = Int(ChatRoomState.banHideWindow)
        let rows = try await store.readModels.query(
            """
            SELECT m.position, m.message_id, m.user_id, m.name, m.text, m.sent_at FROM chat_messages m
            WHERE m.channel = \(channel) AND m.sent_at >= \(from) AND m.sent_at < \(to) AND m.position <= \(asOf) AND m.position > \(after)
              AND (m.deleted_position IS NULL OR m.deleted_position > \(asOf))
              AND NOT EXISTS (
                SELECT 1 FROM chat_bans b WHERE b.channel = m.channel AND b.user_id = m.user_id
                  AND b.banned_position <= \(asOf) AND (b.unbanned_position IS NULL OR b.unbanned_position > \(asOf))
                  AND m.position < b.banned_position AND m.sent_at >= b.banned_at - make_interval(secs => \(window)))
            ORDER BY m.position LIMIT \(limit)
            """, logger: logger)
        var messages: [ChatMessageView] = []
        for try await (position, id, user, name, text, sentAt) in rows.decode((Int64, UUID, String, String, String, Date).self) {
            messages.append(ChatMessageView(id: id, userId: user, name: name, text: text, sentAt: sentAt, position: position))
        }
        return messages
    }
}
