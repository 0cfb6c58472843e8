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
            for try await (user, position, at, by, reason) in try await connection.query(
                """
                SELECT user_id, banned_position, banned_at, banned_by, reason FROM chat_bans
                WHERE channel = \(channel) AND unbanned_position IS NULL
                """, logger: logger
            ).decode((String, Int64, Date, String, String?).self) {
                state.bans[user] = ChatRoomState.Ban(position: position, at: at, by: by, reason: reason)
            }
            for try await (user, until) in try await connection.query(
                "SELECT user_id, until FROM chat_timeouts WHERE channel = \(channel) AND until > now()", logger: logger
            ).decode((String, Date).self) {
                state.timeouts[user] = until
            }
            var recent: [ChatRoomState.Recent] = []
            let rows = try await connection.query(
                """
                SELECT m.position, m.message_id, m.user_id, m.name, m.text, m.sent_at,
                    m.deleted_position, m.deleted_by, m.deleted_reason, e.recorded_at, m.erased_position IS NOT NULL
                FROM chat_messages m LEFT JOIN events e ON e.position = m.deleted_position
                WHERE m.channel = \(channel) ORDER BY m.position DESC LIMIT \(ChatRoomState.recentLimit)
                """, logger: logger)
            for try await (position, id, user, name, text, sentAt, deletedPosition, deletedBy, deletedReason, deletedAt, erased)
                in rows.decode(
                    (Int64, UUID, String, String, String, Date, Int64?, String?, String?, Date?, Bool).self)
            {
                recent.append(
                    .init(
                        view: Self.view(id, user, name, text, sentAt, position, erased: erased),
                        deletion: Self.deletion(deletedPosition, deletedBy, deletedReason, deletedAt, sentAt: sentAt)))
            }
            for message in recent.reversed() { state.restore(message) }
            return state
        }
    }

    func viewerExists(_ userId: String) async throws -> Bool {
        let rows = try await store.readModels.query(
            """
            SELECT 1 FROM chat_viewers WHERE user_id = \(userId)
            UNION ALL SELECT 1 FROM (SELECT 1 FROM chat_messages WHERE user_id = \(userId) LIMIT 1) m
            """, logger: logger)
        for try await _ in rows { return true }
        return false
    }

    /// The author of message `id` in `channel`; nil when there is none.
    func messageAuthor(_ channel: String, _ id: UUID) async throws -> String? {
        let rows = try await store.readModels.query(
            "SELECT user_id FROM chat_messages WHERE channel = \(channel) AND message_id = \(id)", logger: logger)
        for try await user in rows.decode(String.self) { return user }
        return nil
    }

    /// A row as clients see it; an erased one carries the marker and the flag.
    static func view(
        _ id: UUID, _ user: String, _ name: String, _ text: String, _ sentAt: Date, _ position: Int64, erased: Bool
    )
        -> ChatMessageView
    {
        guard erased else { return ChatMessageView(id: id, userId: user, name: name, text: text, sentAt: sentAt, position: position) }
        let marker = ChatMessageView.erasedMarker
        return ChatMessageView(id: id, userId: user, name: marker, text: marker, sentAt: sentAt, position: position, erased: true)
    }

    /// The marker of a deleted message from its row; the delete's time is its event's.
    static func deletion(_ position: Int64?, _ by: String?, _ reason: String?, _ at: Date?, sentAt: Date) -> ChatMessageView.Removal? {
        guard let position else { return nil }
        return ChatMessageView.Removal(kind: .deleted, by: by ?? "unknown", at: at ?? sentAt, position: position, reason: reason)
    }

    /// Messages sent in [from, to) and posted at or before `asOf` (a log position; now when nil),
    /// oldest first. Takedowns are those in force now, whatever `asOf` says: a message deleted, or
    /// hidden by its author's ban, after `asOf` stays out, so a takedown holds for every later
    /// read. With `includingRemoved` (the admin, the room's moderators) removed messages are kept,
    /// marked.
    func history(
        _ channel: String, from: Date, to: Date, asOf: Int64?, after: Int64, limit: Int, includingRemoved: Bool
    ) async throws -> [ChatMessageView] {
        let asOf = asOf ?? Int64.max
        let window = Int(ChatRoomState.banHideWindow)
        // At most one ban per user is in force (the projection opens one only when none is).
        let rows = try await store.readModels.query(
            """
            SELECT m.position, m.message_id, m.user_id, m.name, m.text, m.sent_at,
                m.deleted_position, m.deleted_by, m.deleted_reason, e.recorded_at,
                b.banned_position, b.banned_at, b.banned_by, b.reason, m.erased_position IS NOT NULL
            FROM chat_messages m
            LEFT JOIN events e ON e.position = m.deleted_position
            LEFT JOIN LATERAL (
                SELECT banned_position, banned_at, banned_by, reason FROM chat_bans
                WHERE chat_bans.channel = m.channel AND chat_bans.user_id = m.user_id AND chat_bans.unbanned_position IS NULL
                  AND m.position < chat_bans.banned_position
                  AND m.sent_at >= chat_bans.banned_at - make_interval(secs => \(window))
                ORDER BY banned_position LIMIT 1) b ON true
            WHERE m.channel = \(channel) AND m.sent_at >= \(from) AND m.sent_at < \(to)
              AND m.position <= \(asOf) AND m.position > \(after)
              AND (\(includingRemoved) OR (m.deleted_position IS NULL AND b.banned_position IS NULL))
            ORDER BY m.position LIMIT \(limit)
            """, logger: logger)
        var messages: [ChatMessageView] = []
        for try await (
            position, id, user, name, text, sentAt, deletedPosition, deletedBy, deletedReason, deletedAt, banPosition, bannedAt, bannedBy,
            banReason, erased
        ) in rows.decode(
            (Int64, UUID, String, String, String, Date, Int64?, String?, String?, Date?, Int64?, Date?, String?, String?, Bool).self)
        {
            var removed = Self.deletion(deletedPosition, deletedBy, deletedReason, deletedAt, sentAt: sentAt)
            if removed == nil, let banPosition, let bannedAt {
                removed = ChatMessageView.Removal(
                    kind: .ban, by: bannedBy ?? "unknown", at: bannedAt, position: banPosition, reason: banReason)
            }
            var view = Self.view(id, user, name, text, sentAt, position, erased: erased)
            view.removed = removed
            messages.append(view)
        }
        return messages
    }
}
