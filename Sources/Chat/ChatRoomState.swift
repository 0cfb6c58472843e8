import EventStore
import Foundation

/// One room as a node holds it in memory (sans-I/O): settings, moderators, bans, time-outs,
/// recent messages and users' recent activity, folded from the room's events. `apply` returns
/// what to broadcast to the room's sockets.
public struct ChatRoomState: Sendable {
    public struct Ban: Sendable, Hashable {
        public var position: Int64
        public var at: Date
    }

    public struct Recent: Sendable, Hashable {
        public var view: ChatMessageView
        public var deleted: Bool
    }

    /// A ban hides the banned user's messages of this many seconds before it.
    public static let banHideWindow: TimeInterval = 600
    public static let recentLimit = 1_000
    public static let backlogLimit = 50

    public let channel: String
    /// Every event of the room up to here has been applied.
    public internal(set) var position: Int64
    public var settings = ChatSettings()
    public var moderators: Set<String> = []
    public var bans: [String: Ban] = [:]
    public var timeouts: [String: Date] = [:]
    public internal(set) var recent: [Recent] = []
    public var activity: [String: UserActivity] = [:]
    /// Lower-cased name → the user who used it in this room.
    public var names: [String: String] = [:]
    /// Messages this node accepted and already counted in `activity`.
    var pending: Set<UUID> = []

    public init(channel: String, position: Int64) {
        self.channel = channel
        self.position = position
    }

    public func isVisible(_ message: Recent) -> Bool {
        if message.deleted { return false }
        if let ban = bans[message.view.userId], message.view.position < ban.position,
           message.view.sentAt >= ban.at.addingTimeInterval(-Self.banHideWindow) {
            return false
        }
        return true
    }

    public func backlog(limit: Int = Self.backlogLimit) -> [ChatMessageView] {
        var result: [ChatMessageView] = []
        for message in recent.reversed() where isVisible(message) {
            result.append(message.view)
            if result.count == limit { break }
        }
        return result.reversed()
    }

    public func context(for userId: String, now: Date) -> ModerationContext {
        ModerationContext(
            settings: settings, bannedAt: bans[userId]?.at, timedOutUntil: timeouts[userId].flatMap { $0 > now ? $0 : nil },
            activity: activity[userId] ?? UserActivity())
    }

    /// Counts a post this node accepted before its event comes back from the log.
    mutating func accept(_ messageId: UUID, userId: String, name: String, text: String, at now: Date) {
        activity[userId, default: UserActivity()].record(text, at: now)
        pending.insert(messageId)
        names[name.lowercased()] = userId
    }

    /// Adds a message read from the read model at load time.
    mutating func restore(_ message: Recent) {
        recent.append(message)
        names[message.view.name.lowercased()] = message.view.userId
        if Date().timeIntervalSince(message.view.sentAt) < UserActivity.keep {
            activity[message.view.userId, default: UserActivity()].record(message.view.text, at: message.view.sentAt)
        }
    }

    /// Applies one of this room's events (once: older positions are ignored) and returns the
    /// frames every socket of the room should get.
    public mutating func apply(_ event: RecordedEvent, registry: EventRegistry) -> [ServerMessage] {
        guard event.position > position else { return [] }
        position = event.position
        switch event.eventType {
        case ChatMessagePosted.eventType:
            guard let posted = try? registry.decode(event, as: ChatMessagePosted.self) else { return [] }
            let view = ChatMessageView(
                id: posted.messageId, userId: posted.userId, name: posted.name, text: posted.text, sentAt: event.recordedAt, position: event.position)
            recent.append(Recent(view: view, deleted: false))
            if recent.count > Self.recentLimit { recent.removeFirst(recent.count - Self.recentLimit) }
            names[posted.name.lowercased()] = posted.userId
            if pending.remove(posted.messageId) == nil {
                activity[posted.userId, default: UserActivity()].record(posted.text, at: event.recordedAt)
            }
            return [.message(view)]
        case ChatMessageDeleted.eventType:
            guard let deleted = try? registry.decode(event, as: ChatMessageDeleted.self) else { return [] }
            if let index = recent.lastIndex(where: { $0.view.id == deleted.messageId }) { recent[index].deleted = true }
            return [.deleted(id: deleted.messageId)]
        case ChatUserTimedOut.eventType:
            guard let timedOut = try? registry.decode(event, as: ChatUserTimedOut.self) else { return [] }
            timeouts[timedOut.userId] = timedOut.until
            return [.userTimedOut(userId: timedOut.userId, until: timedOut.until)]
        case ChatUserBanned.eventType:
            guard let banned = try? registry.decode(event, as: ChatUserBanned.self) else { return [] }
            guard bans[banned.userId] == nil else { return [] }
            let hidden = recent.filter { $0.view.userId == banned.userId && isVisible($0) }
            bans[banned.userId] = Ban(position: event.position, at: event.recordedAt)
            return [.userBanned(userId: banned.userId)] + hidden.filter { !isVisible($0) }.map { .deleted(id: $0.view.id) }
        case ChatUserUnbanned.eventType:
            guard let unbanned = try? registry.decode(event, as: ChatUserUnbanned.self), bans[unbanned.userId] != nil else { return [] }
            bans[unbanned.userId] = nil
            // Clients learn of the restored messages from a fresh backlog.
            return [.userUnbanned(userId: unbanned.userId), .backlog(backlog())]
        case ChatSettingsChanged.eventType:
            guard let changed = try? registry.decode(event, as: ChatSettingsChanged.self) else { return [] }
            settings = changed.settings
            return [.settings(changed.settings)]
        case ChatModeratorAdded.eventType:
            guard let added = try? registry.decode(event, as: ChatModeratorAdded.self) else { return [] }
            moderators.insert(added.userId)
            return []
        case ChatModeratorRemoved.eventType:
            guard let removed = try? registry.decode(event, as: ChatModeratorRemoved.self) else { return [] }
            moderators.remove(removed.userId)
            return []
        default:
            return []
        }
    }
}
