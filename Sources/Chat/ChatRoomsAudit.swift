import EventStore
import Foundation

/// The chat rooms a node holds in memory (`ChatRoomState`) as an audited model, `chat-rooms`:
/// the live rooms (`ChatService.auditValue`) against the same rooms folded from the log.
///
/// The canonical value is, per room in channel order: settings, moderators, bans in force, the
/// time-outs in force at the value's `time`, and the recent messages (at most
/// `ChatRoomState.recentLimit`) with why each is hidden, if it is. Left out: what a node counts
/// for rate limits and name reservations (its own posts before the log has them, wall-clock
/// activity), which no log can reproduce.
public enum ChatRoomsAudit {
    public static let name = "chat-rooms"

    public static let model = InMemoryModelAudit(
        name: name, summary: "chat rooms as nodes hold them in memory (settings, moderators, bans, time-outs, recent messages)"
    ) { store, asOf, scope, time in
        try await rebuild(store, asOf: asOf, scope: scope, time: time)
    }

    struct Room: Encodable {
        struct Ban: Encodable {
            var userId: String
            var position: Int64
            var at: Date
            var by: String
            var reason: String?
        }

        struct TimeOut: Encodable {
            var userId: String
            var until: Date
        }

        struct Message: Encodable {
            var id: String
            var position: Int64
            var userId: String
            var name: String
            var text: String
            var sentAt: Date
            var removed: ChatMessageView.Removal?
        }

        var channel: String
        var settings: ChatSettings
        var moderators: [String]
        var bans: [Ban]
        var timeouts: [TimeOut]
        var recent: [Message]

        init(_ state: ChatRoomState, time: Date) {
            channel = state.channel
            settings = state.settings
            moderators = state.moderators.sorted()
            bans = state.bans.sorted { $0.key < $1.key }.map {
                Ban(userId: $0.key, position: $0.value.position, at: $0.value.at, by: $0.value.by, reason: $0.value.reason)
            }
            timeouts = state.timeouts.filter { $0.value > time }.sorted { $0.key < $1.key }.map { TimeOut(userId: $0.key, until: $0.value) }
            recent = state.recent.map {
                Message(
                    id: $0.view.id.uuidString.lowercased(), position: $0.view.position, userId: $0.view.userId, name: $0.view.name,
                    text: $0.view.text, sentAt: $0.view.sentAt, removed: state.removal(of: $0))
            }
        }
    }

    struct Value: Encodable {
        var rooms: [Room]
    }

    /// `rooms` as of `position` (every event of theirs up to it applied), hashed.
    public static func value(_ rooms: [ChatRoomState], position: Int64, scope: [String]?, time: Date) throws -> AuditedValue {
        let value = Value(rooms: rooms.sorted { $0.channel < $1.channel }.map { Room($0, time: time) })
        return try AuditedValue(model: name, position: position, scope: scope, time: time, canonical: ReadModelHash.canonical(value))
    }

    /// The rooms of `scope` (every room with events when nil) folded from the log up to `asOf`;
    /// `time` defaults to the recorded time of the event at `asOf` (what was in force then).
    public static func rebuild(_ store: EventStore, asOf: Int64, scope: [String]?, time: Date?) async throws -> AuditedValue {
        var rooms: [String: ChatRoomState] = [:]
        for channel in scope ?? [] { rooms[channel] = ChatRoomState(channel: channel, position: 0) }
        let keys = ViewerKeys()
        try await InMemoryModelAudit.fold(store, upTo: asOf, filter: EventFilter(streamPrefix: "chat-")) { event in
            guard let channel = ChatStream.channel(of: event.streamId) else { return }
            if let scope, !scope.contains(channel) { return }
            var state = rooms[channel] ?? ChatRoomState(channel: channel, position: 0)
            await ChatService.loadKey(of: event, into: keys, from: store.readModels, logger: store.logger)
            // A chat event that does not decode is skipped here as the live room skips it.
            _ = try? state.apply(event, registry: store.registry, keys: keys)
            rooms[channel] = state
        }
        let clock: Date
        if let time {
            clock = time
        } else {
            clock = try await InMemoryModelAudit.recordedTime(store, at: asOf) ?? Date(timeIntervalSince1970: 0)
        }
        return try value(Array(rooms.values), position: asOf, scope: scope, time: clock)
    }
}
