import EventStore
import Foundation

/// One room as a node holds it in memory (sans-I/O): settings, moderators, bans, time-outs,
/// recent messages and users' recent activity, folded from the room's events. `apply` returns
/// what to broadcast to the room's sockets.
public struct ChatRoomState: Sendable {
    public struct Ban: Sendable, Hashable {
        public var position: Int64
        public var at: Date
        public var by: String
        public var reason: String?
    }

    public struct Recent: Sendable, Hashable {
        public var view: ChatMessageView
        public var deletion: ChatMessageView.Removal?
        public var deleted: Bool { deletion != nil }
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

    /// Why `message` is hidden from the public now (a delete, or its author's ban in force), or nil.
    public func removal(of message: Recent) -> ChatMessageView.Removal? {
        if let deletion = message.deletion { return deletion }
        if let ban = bans[message.view.userId], message.view.position < ban.position,
            message.view.sentAt >= ban.at.addingTimeInterval(-Self.banHideWindow)
        {
            return ChatMessageView.Removal(kind: .ban, by: ban.by, at: ban.at, position: ban.position, reason: ban.reason)
        }
        return nil
    }

    public func isVisible(_ message: Recent) -> Bool { removal(of: message) == nil }

    /// The last `limit` messages: the visible ones, or with `includingRemoved` (for the admin and
    /// the room's moderators) every one, removed ones marked.
    public func backlog(limit: Int = Self.backlogLimit, includingRemoved: Bool = false) -> [ChatMessageView] {
        var result: [ChatMessageView] = []
        for message in recent.reversed() {
            let removal = removal(of: message)
            if removal != nil && !includingRemoved { continue }
            var view = message.view
            view.removed = removal
            result.append(view)
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

    /// A takedown's reason: sealed about the user (schema 2; nil once they are erased), or the
    /// metadata's (schema 1).
    static func reason(
        _ sealed: PersonalData<ChatModerationReason>?, of event: RecordedEvent, about userId: String?, keys: ViewerKeys
    )
        -> String?
    {
        guard let sealed, let userId else { return event.metadata.reason }
        return sealed.open(with: keys, context: ChatModerationReason.context(event.eventType, userId: userId))?.reason
    }

    /// Blanks `userId`'s messages before `position` and the reasons of takedowns about them, and
    /// forgets their name and recent texts here.
    mutating func erase(_ userId: String, before position: Int64) -> [ServerMessage] {
        var changed = false
        for index in recent.indices where recent[index].view.userId == userId && recent[index].view.position < position {
            guard recent[index].view.erased != true else { continue }
            recent[index].view.name = ChatMessageView.erasedMarker
            recent[index].view.text = ChatMessageView.erasedMarker
            recent[index].view.erased = true
            changed = true
        }
        for index in recent.indices where recent[index].view.userId == userId && recent[index].deletion?.reason != nil {
            recent[index].deletion?.reason = nil
            changed = true
        }
        if bans[userId]?.reason != nil { bans[userId]?.reason = nil }
        names = names.filter { $0.value != userId }
        activity[userId] = nil
        // Clients redraw from a fresh backlog, as after an unban.
        return changed ? [.viewerErased(userId: userId), .backlog(backlog())] : []
    }

    /// Adds a message read from the read model at load time.
    mutating func restore(_ message: Recent) {
        recent.append(message)
        guard message.view.erased != true else { return }
        names[message.view.name.lowercased()] = message.view.userId
        if Date().timeIntervalSince(message.view.sentAt) < UserActivity.keep {
            activity[message.view.userId, default: UserActivity()].record(message.view.text, at: message.view.sentAt)
        }
    }

    /// Applies one of this room's events (once: older positions are ignored) and returns the
    /// frames every socket of the room should get. An event of a chat type that does not decode
    /// throws, after its position is taken (the room moves on; the caller reports it).
    /// Sealed fields open with `keys`' cached keys (the caller loads a missing one first); a
    /// message whose key is erased reads as erased.
    public mutating func apply(_ event: RecordedEvent, registry: EventRegistry, keys: ViewerKeys) throws -> [ServerMessage] {
        guard event.position > position else { return [] }
        position = event.position
        guard let input = try ChatRoomEvent(event, registry: registry) else { return [] }
        switch input {
        case .posted(let posted):
            let personal = posted.personal.open(with: keys, context: ChatMessagePosted.context(userId: posted.userId))
            var view = ChatMessageView(
                id: posted.messageId, userId: posted.userId, name: personal?.name ?? ChatMessageView.erasedMarker,
                text: personal?.text ?? ChatMessageView.erasedMarker, sentAt: event.recordedAt, position: event.position)
            if personal == nil { view.erased = true }
            recent.append(Recent(view: view, deletion: nil))
            if recent.count > Self.recentLimit { recent.removeFirst(recent.count - Self.recentLimit) }
            let counted = pending.remove(posted.messageId) != nil
            if let personal {
                names[personal.name.lowercased()] = posted.userId
                if !counted { activity[posted.userId, default: UserActivity()].record(personal.text, at: event.recordedAt) }
            }
            return [.message(view)]
        case .erased(let erased):
            return erase(erased.userId, before: event.position)
        case .deleted(let deleted):
            if let index = recent.lastIndex(where: { $0.view.id == deleted.messageId }), recent[index].deletion == nil {
                recent[index].deletion = ChatMessageView.Removal(
                    kind: .deleted, by: event.metadata.actor.description, at: event.recordedAt, position: event.position,
                    reason: Self.reason(deleted.reason, of: event, about: deleted.userId, keys: keys))
            }
            return [.deleted(id: deleted.messageId)]
        case .timedOut(let timedOut):
            timeouts[timedOut.userId] = timedOut.until
            return [.userTimedOut(userId: timedOut.userId, until: timedOut.until)]
        case .banned(let banned):
            guard bans[banned.userId] == nil else { return [] }
            let hidden = recent.filter { $0.view.userId == banned.userId && isVisible($0) }
            bans[banned.userId] = Ban(
                position: event.position, at: event.recordedAt, by: event.metadata.actor.description,
                reason: Self.reason(banned.reason, of: event, about: banned.userId, keys: keys))
            return [.userBanned(userId: banned.userId)] + hidden.filter { !isVisible($0) }.map { .deleted(id: $0.view.id) }
        case .unbanned(let unbanned):
            guard bans[unbanned.userId] != nil else { return [] }
            bans[unbanned.userId] = nil
            // Clients learn of the restored messages from a fresh backlog.
            return [.userUnbanned(userId: unbanned.userId), .backlog(backlog())]
        case .settings(let changed):
            settings = changed.settings
            return [.settings(changed.settings)]
        case .moderatorAdded(let added):
            moderators.insert(added.userId)
            return []
        case .moderatorRemoved(let removed):
            moderators.remove(removed.userId)
            return []
        }
    }
}

/// The events a room's state follows, decoded once. `nil` for any other type.
enum ChatRoomEvent {
    case posted(ChatMessagePosted)
    case deleted(ChatMessageDeleted)
    case timedOut(ChatUserTimedOut)
    case banned(ChatUserBanned)
    case unbanned(ChatUserUnbanned)
    case settings(ChatSettingsChanged)
    case moderatorAdded(ChatModeratorAdded)
    case moderatorRemoved(ChatModeratorRemoved)
    /// From `chat.viewers`: applies to every room.
    case erased(ViewerErased)

    init?(_ event: RecordedEvent, registry: EventRegistry) throws {
        switch event.eventType {
        case ChatMessagePosted.eventType: self = .posted(try registry.decode(event, as: ChatMessagePosted.self))
        case ChatMessageDeleted.eventType: self = .deleted(try registry.decode(event, as: ChatMessageDeleted.self))
        case ChatUserTimedOut.eventType: self = .timedOut(try registry.decode(event, as: ChatUserTimedOut.self))
        case ChatUserBanned.eventType: self = .banned(try registry.decode(event, as: ChatUserBanned.self))
        case ChatUserUnbanned.eventType: self = .unbanned(try registry.decode(event, as: ChatUserUnbanned.self))
        case ChatSettingsChanged.eventType: self = .settings(try registry.decode(event, as: ChatSettingsChanged.self))
        case ChatModeratorAdded.eventType: self = .moderatorAdded(try registry.decode(event, as: ChatModeratorAdded.self))
        case ChatModeratorRemoved.eventType: self = .moderatorRemoved(try registry.decode(event, as: ChatModeratorRemoved.self))
        case ViewerErased.eventType: self = .erased(try registry.decode(event, as: ViewerErased.self))
        default: return nil
        }
    }
}
