import Channels
import EventStore
import Foundation
import Logging
import NIOCore

/// Chat on one node. Posts pass moderation, are appended (group commit) and acknowledged; every
/// socket gets them from the node's single log subscription, deduplicated by position, so another
/// node's posts and moderator actions reach this node's sockets the same way.
public actor ChatService {
    public enum PostOutcome: Sendable, Hashable {
        case accepted(id: UUID, position: Int64)
        case refused(Refusal)
    }

    public enum ModeratorAction: String, Sendable, Codable {
        case delete, timeout, ban, unban
    }

    public struct Metrics: Sendable, Hashable {
        public var posted = 0
        public var rejected = 0
        public var rateLimited = 0
        /// Refused posts past `UserActivity.recordedRejectionsPerMinute`: counted, not recorded.
        public var rejectedUnrecorded = 0
        public var delivered = 0
        public var evicted = 0
    }

    final class Room {
        var state: ChatRoomState
        var members: [UUID: (subscriber: ChatSubscriber, identity: ChatIdentity?)] = [:]
        let feed = ChatFeed()
        init(state: ChatRoomState) { self.state = state }
    }

    public nonisolated let store: EventStore
    public nonisolated let runner: ProjectionRunner
    nonisolated let readModel: ChatReadModel
    /// Viewers' data keys: every name and text is sealed under its author's.
    public nonisolated let keys = ViewerKeys()
    public nonisolated let channels: ChannelService
    let pipeline: ModerationPipeline
    let logger: Logger
    private var rooms: [String: Room] = [:]
    private var loading: [String: Task<Void, any Error>] = [:]
    /// Room events that arrived while their room was loading.
    private var buffered: [String: [RecordedEvent]] = [:]
    private var delivered: Int64 = 0
    private var waiters: [(position: Int64, continuation: CheckedContinuation<Void, Never>)] = []
    private var counters = Metrics()
    public var metrics: Metrics {
        var metrics = counters
        metrics.evicted = rooms.values.reduce(0) { $0 + $1.feed.evictions }
        return metrics
    }

    /// How often the chat read model (history, room loads) takes what the log has gained.
    static let readModelInterval = Duration.milliseconds(50)

    public init(store: EventStore, channels: ChannelService, pipeline: ModerationPipeline = .standard) {
        self.store = store
        self.channels = channels
        self.pipeline = pipeline
        self.logger = store.logger
        self.runner = ProjectionRunner(store: store, sql: ChatProjection(keys: keys))
        self.readModel = ChatReadModel(store: store)
    }

    /// Runs the read-model runner and the node's fan-out subscription from the log's head until
    /// cancelled, then closes every socket's feed.
    public func run() async {
        let runner = self.runner
        let head = (try? await store.headPosition()) ?? 0
        delivered = Swift.max(delivered, head)
        // Pages smaller than a socket's queue, so one page never overflows a reader that keeps up.
        // `chat` takes the rooms and `chat.viewers` (for `ViewerErased`).
        let subscription = store.subscribe(after: head, filter: EventFilter(streamPrefix: "chat"), pageSize: 256)
        await withDiscardingTaskGroup { group in
            // Batched: a transaction per message was most of PostgreSQL's work
            // (docs/benchmarks.md#chat-read-model); history and room loads can trail the log by
            // this much.
            group.addTask { await runner.run(batchInterval: Self.readModelInterval) }
            group.addTask {
                for await event in subscription {
                    await self.loadKey(of: event)
                    await self.deliver(event)
                }
            }
        }
        for room in rooms.values { for member in room.members.values { member.subscriber.finish() } }
        rooms = [:]
    }

    // MARK: Fan-out

    /// Room events whose fold opens sealed fields.
    static let sealedTypes: Set<String> = [ChatMessagePosted.eventType, ChatMessageDeleted.eventType, ChatUserBanned.eventType]

    /// Loads the key a posted message (or a takedown's reason) is sealed under when this node lacks it (another node's
    /// viewer, or one not seen since start), so that the room's fold finds it cached.
    private nonisolated func loadKey(of event: RecordedEvent) async {
        await Self.loadKey(of: event, into: keys, from: store.readModels, logger: logger)
    }

    /// As the fan-out does it, for folds outside the service (the `chat-rooms` audit's rebuild).
    static func loadKey(of event: RecordedEvent, into keys: ViewerKeys, from readModels: ReadModelDatabase, logger: Logger) async {
        guard sealedTypes.contains(event.eventType), event.schemaVersion >= 2,
            let reference = try? EventCoding.decoder().decode(SealedKeyReference.self, from: event.data),
            let id = reference.personal?.sealed?.key ?? reference.reason?.sealed?.key, keys.cached(id) == nil
        else { return }
        do {
            _ = try await keys.load(id, from: readModels, logger: logger)
        } catch {
            logger.warning("chat cannot load data key \(id) for the message at position \(event.position); it shows as erased: \(error)")
        }
    }

    private func deliver(_ event: RecordedEvent) {
        guard event.position > delivered else { return }
        delivered = event.position
        defer { wake() }
        if event.eventType == ViewerErased.eventType {
            forgetKeys(event)
            for channel in loading.keys { buffered[channel, default: []].append(event) }
            for room in rooms.values { broadcast(applying(event, to: &room.state), in: room) }
            return
        }
        guard let channel = ChatStream.channel(of: event.streamId) else { return }
        if loading[channel] != nil { buffered[channel, default: []].append(event) }
        guard let room = rooms[channel] else { return }
        broadcast(applying(event, to: &room.state), in: room)
        if event.eventType == ChatMessagePosted.eventType { ChatMetrics.delivered(recordedAt: event.recordedAt) }
    }

    /// Applies `event` to a room's state; one that does not decode is reported, and the room moves on.
    private nonisolated func applying(_ event: RecordedEvent, to state: inout ChatRoomState) -> [ServerMessage] {
        do {
            return try state.apply(event, registry: store.registry, keys: keys)
        } catch {
            DecodeFailures.report(event, error, consumer: "chat room", consequence: "the room's sockets do not see it", logger: logger)
            return []
        }
    }

    private func broadcast(_ messages: [ServerMessage], in room: Room) {
        for message in messages {
            // Encoded and framed once, for every socket; each socket's writer reads it from the feed.
            room.feed.append(ChatSubscriber.frame(message.json))
            counters.delivered += room.members.count
        }
    }

    private func wake() {
        guard waiters.contains(where: { $0.position <= delivered }) else { return }
        let ready = waiters.filter { $0.position <= delivered }
        waiters.removeAll { $0.position <= delivered }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Returns once this node's sockets have been given every event up to `position` (or after
    /// 10 s), so a caller reads its own write.
    public func waitDelivered(_ position: Int64) async {
        if delivered >= position { return }
        await withCheckedContinuation { continuation in
            waiters.append((position, continuation))
            Task { [weak self] in
                try? await Task.sleep(for: .seconds(10))
                await self?.expireWaiters(upTo: position)
            }
        }
    }

    private func expireWaiters(upTo position: Int64) {
        let expired = waiters.filter { $0.position <= position }
        waiters.removeAll { $0.position <= position }
        for waiter in expired { waiter.continuation.resume() }
    }

    // MARK: Rooms

    /// The room, loaded from the read model and the log after it on first use. Concurrent first
    /// users share one load; the room is installed before any of them resumes.
    private func room(_ channel: String) async throws -> Room {
        if let room = rooms[channel] { return room }
        let task: Task<Void, any Error>
        if let loading = loading[channel] {
            task = loading
        } else {
            buffered[channel] = []
            task = Task {
                do {
                    let state = try await self.load(channel)
                    self.install(channel, state)
                } catch {
                    self.abandon(channel)
                    throw error
                }
            }
            loading[channel] = task
        }
        try await task.value
        guard let room = rooms[channel] else { throw ChatError.roomNotFound(channel) }
        return room
    }

    private func install(_ channel: String, _ state: ChatRoomState) {
        let room = Room(state: state)
        for event in buffered[channel] ?? [] { _ = applying(event, to: &room.state) }
        rooms[channel] = room
        abandon(channel)
    }

    private func abandon(_ channel: String) {
        loading[channel] = nil
        buffered[channel] = nil
    }

    private nonisolated func load(_ channel: String) async throws -> ChatRoomState {
        guard try await channels.channel(named: channel) != nil else { throw ChatError.roomNotFound(channel) }
        var state = try await readModel.room(channel)
        // Events the read model had not applied yet: the room's, and erasures.
        let stream = ChatStream.room(channel)
        while true {
            let page = try await store.read(after: state.position, limit: 1_000, filter: EventFilter(streamPrefix: "chat"))
            guard let last = page.last else { break }
            for event in page where event.streamId == stream || event.eventType == ViewerErased.eventType {
                await loadKey(of: event)
                if event.eventType == ViewerErased.eventType { forgetKeys(event) }
                _ = applying(event, to: &state)
            }
            if state.position < last.position { state.position = last.position }
        }
        return state
    }

    /// Adds a socket to its room and queues the backlog (and the settings) for it.
    public func join(_ channel: String, _ subscriber: ChatSubscriber) async throws {
        let room = try await room(channel)
        guard room.members[subscriber.id] == nil else { return }
        room.members[subscriber.id] = (subscriber, nil)
        subscriber.attach(to: room.feed)
        subscriber.send(ServerMessage.backlog(room.state.backlog()).json)
        subscriber.send(ServerMessage.settings(room.state.settings).json)
    }

    public func leave(_ channel: String, _ subscriber: ChatSubscriber) {
        rooms[channel]?.members[subscriber.id] = nil
        subscriber.finish()
    }

    /// Identifies a socket; names are unique per room (case-insensitively).
    public func authenticate(_ channel: String, _ subscriber: ChatSubscriber, as identity: ChatIdentity) async throws -> Bool {
        let room = try await room(channel)
        let key = identity.name.lowercased()
        if !identity.isAdmin {
            if let owner = room.state.names[key], owner != identity.userId { throw ChatError.nameTaken(identity.name) }
            if room.members.values.contains(where: { $0.identity?.name.lowercased() == key && $0.identity?.userId != identity.userId }) {
                throw ChatError.nameTaken(identity.name)
            }
        }
        room.members[subscriber.id]?.identity = identity
        // Loaded now, so posts need no query and survive a database outage (the spool).
        _ = try? await keys.sealingKey(for: identity.userId, in: store.readModels, logger: logger)
        let moderator = identity.isAdmin || room.state.moderators.contains(identity.userId)
        // The full record for those who moderate: the backlog again, removed messages marked.
        if moderator { subscriber.send(ServerMessage.backlog(room.state.backlog(includingRemoved: true)).json) }
        return moderator
    }

    public func isModerator(_ channel: String, _ identity: ChatIdentity) async throws -> Bool {
        if identity.isAdmin { return true }
        return try await room(channel).state.moderators.contains(identity.userId)
    }

    // MARK: Posting

    public func post(
        _ channel: String, as identity: ChatIdentity, text raw: String, nonce: String?, now: Date = Date()
    ) async throws -> PostOutcome {
        let room = try await room(channel)
        let key = try await keys.sealingKey(for: identity.userId, in: store.readModels, logger: logger)
        let text = TextNormalizer.nfkc(raw)
        let attempt = PostAttempt(
            userId: identity.userId, name: identity.name, text: text,
            isModerator: room.state.moderators.contains(identity.userId), isAdmin: identity.isAdmin, now: now)
        if let refusal = pipeline.evaluate(attempt, room.state.context(for: identity.userId, now: now)) {
            if refusal.rule == .rateLimit {
                counters.rateLimited += 1
                ChatMetrics.rateLimited.increment()
                if room.state.activity[identity.userId]?.coolDownUntil.map({ $0 <= now }) ?? true {
                    room.state.activity[identity.userId, default: UserActivity()].coolDownUntil = refusal.retryAfter
                }
            } else if !room.state.activity[identity.userId, default: UserActivity()].recordRejection(at: now) {
                counters.rejectedUnrecorded += 1
                ChatMetrics.rejectedUnrecorded.increment()
            } else {
                counters.rejected += 1
                ChatMetrics.rejected.increment()
                let personal = ChatMessageRejected.Personal(name: identity.name, text: String(text.prefix(1_000)), detail: refusal.message)
                let rejected = ChatMessageRejected(
                    channel: channel, userId: identity.userId, rule: refusal.rule.rawValue,
                    personal: .sealed(try key.seal(personal, context: ChatMessageRejected.context(userId: identity.userId))))
                _ = try await store.append(
                    rejected, to: ChatStream.room(channel), metadata: metadata(identity, reason: refusal.rule.rawValue),
                    durability: .spoolable)
            }
            return .refused(refusal)
        }
        let id = UUID()
        room.state.accept(id, userId: identity.userId, name: identity.name, text: text, at: now)
        let result = try await store.append(
            ChatMessagePosted(
                channel: channel, messageId: id, userId: identity.userId,
                personal: .sealed(
                    try key.seal(
                        ChatMessagePosted.Personal(name: identity.name, text: text),
                        context: ChatMessagePosted.context(userId: identity.userId))),
                nonce: nonce),
            to: ChatStream.room(channel), metadata: metadata(identity, reason: nil), durability: .spoolable)
        counters.posted += 1
        ChatMetrics.posted.increment()
        return .accepted(id: id, position: result.lastPosition)
    }

    private nonisolated func metadata(_ identity: ChatIdentity, reason: String?) -> EventMetadata {
        EventMetadata(actor: identity.actor, reason: reason)
    }

    // MARK: Moderation

    /// Applies a moderator action and returns once this node's sockets have seen it.
    public func moderate(
        _ channel: String, action: ModeratorAction, userId: String?, messageId: UUID?, seconds: Int?, reason: String?,
        by moderator: ChatIdentity
    ) async throws -> Int64 {
        let room = try await room(channel)
        guard try await isModerator(channel, moderator) else { throw ChatError.notModerator }
        let event: any DomainEvent
        // A reason about a user is sealed under their key (it may quote them); an unban's stays
        // in the metadata.
        var metadataReason = reason
        func sealReason(_ type: String, about user: String) async throws -> PersonalData<ChatModerationReason>? {
            guard let text = reason else { return nil }
            metadataReason = nil
            let key = try await keys.sealingKey(for: user, in: store.readModels, logger: logger)
            return .sealed(try key.seal(ChatModerationReason(text), context: ChatModerationReason.context(type, userId: user)))
        }
        switch action {
        case .delete:
            guard let messageId else { throw ChatError.invalid("delete needs \"messageId\"") }
            var author = room.state.recent.last(where: { $0.view.id == messageId })?.view.userId
            if author == nil { author = try await readModel.messageAuthor(channel, messageId) }
            guard let author else { throw ChatError.messageNotFound(messageId) }
            event = ChatMessageDeleted(
                channel: channel, messageId: messageId, userId: author,
                reason: try await sealReason(ChatMessageDeleted.eventType, about: author))
        case .timeout:
            guard let userId, !userId.isEmpty else { throw ChatError.invalid("timeout needs \"userId\"") }
            let seconds = seconds ?? 600
            guard (1...1_209_600).contains(seconds) else { throw ChatError.invalid("\"seconds\" must be between 1 and 1209600 (14 days)") }
            event = ChatUserTimedOut(
                channel: channel, userId: userId, seconds: seconds, until: Date().addingTimeInterval(TimeInterval(seconds)),
                reason: try await sealReason(ChatUserTimedOut.eventType, about: userId))
        case .ban:
            guard let userId, !userId.isEmpty else { throw ChatError.invalid("ban needs \"userId\"") }
            guard room.state.bans[userId] == nil else { throw ChatError.invalid("\(userId) is already banned") }
            event = ChatUserBanned(channel: channel, userId: userId, reason: try await sealReason(ChatUserBanned.eventType, about: userId))
        case .unban:
            guard let userId, !userId.isEmpty else { throw ChatError.invalid("unban needs \"userId\"") }
            guard room.state.bans[userId] != nil else { throw ChatError.invalid("\(userId) is not banned") }
            event = ChatUserUnbanned(channel: channel, userId: userId)
        }
        return try await record(event, channel: channel, by: moderator, reason: metadataReason)
    }

    /// The room's settings, for its moderators (the console's editor starts from them).
    public func settings(_ channel: String, for moderator: ChatIdentity) async throws -> ChatSettings {
        let room = try await room(channel)
        guard try await isModerator(channel, moderator) else { throw ChatError.notModerator }
        return room.state.settings
    }

    public func updateSettings(
        _ channel: String, by moderator: ChatIdentity, _ change: (inout ChatSettings) -> Void
    ) async throws -> ChatSettings {
        let room = try await room(channel)
        guard try await isModerator(channel, moderator) else { throw ChatError.notModerator }
        var settings = room.state.settings
        change(&settings)
        try settings.validate()
        _ = try await record(ChatSettingsChanged(channel: channel, settings: settings), channel: channel, by: moderator, reason: nil)
        return settings
    }

    /// Only the admin grants and removes moderators.
    public func setModerator(
        _ channel: String, userId: String, granted: Bool, reason: String?, by admin: ChatIdentity = .admin
    ) async throws -> Int64 {
        _ = try await room(channel)
        guard !userId.isEmpty, userId.count <= 64 else { throw ChatError.invalid("\"userId\" must be a user id from POST /v1/viewers") }
        let event: any DomainEvent =
            granted ? ChatModeratorAdded(channel: channel, userId: userId) : ChatModeratorRemoved(channel: channel, userId: userId)
        return try await record(event, channel: channel, by: admin, reason: reason)
    }

    private func record(_ event: some DomainEvent, channel: String, by moderator: ChatIdentity, reason: String?) async throws -> Int64 {
        let actor = moderator.isAdmin ? moderator.actor : EventActor(.moderator, id: moderator.userId)
        let result = try await store.append(event, to: ChatStream.room(channel), metadata: EventMetadata(actor: actor, reason: reason))
        await waitDelivered(result.lastPosition)
        return result.lastPosition
    }

    // MARK: Audit

    /// The rooms this node holds, hashed as `ChatRoomsAudit` does, at the position they all
    /// reflect: a room loads from the read model and the log after it, so it may have read past
    /// what the node's subscription has delivered; this waits (a few times at most) until the
    /// subscription has caught up with every room. `time` (for time-outs in force) is whole
    /// milliseconds, as the API's times are written.
    public func auditValue(
        time: Date = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1_000).rounded(.down) / 1_000)
    )
        async throws -> AuditedValue
    {
        for _ in 0..<3 {
            let furthest = rooms.values.map(\.state.position).max() ?? 0
            if delivered >= furthest { break }
            await waitDelivered(furthest)
        }
        let states = rooms.values.map(\.state)
        return try ChatRoomsAudit.value(states, position: delivered, scope: states.map(\.channel).sorted(), time: time)
    }

    // MARK: Viewers and history

    public nonisolated func registerViewer(userId: String, name: String, expiresAt: Date) async throws {
        let key = try await keys.sealingKey(for: userId, in: store.readModels, logger: logger)
        let personal = try key.seal(ChatViewerRegistered.Personal(name: name), context: ChatViewerRegistered.context(userId: userId))
        _ = try await store.append(
            ChatViewerRegistered(userId: userId, personal: .sealed(personal), expiresAt: expiresAt), to: ChatStream.viewers,
            metadata: EventMetadata(actor: EventActor(.user, id: userId)))
    }

    // MARK: Erasure

    /// What `eraseViewer` did.
    public struct Erasure: Sendable, Hashable, Codable {
        public var userId: String
        /// The position of the `ViewerErased` appended.
        public var position: Int64
        public var keysDestroyed: Int
    }

    /// Destroys the viewer's data keys (here at once, on other nodes when they read the
    /// `ViewerErased` appended after) and records the erasure with `metadata` (its reason is
    /// required). The read model
    /// blanks their rows when its runner applies the event (`settle` waits for that).
    public nonisolated func eraseViewer(_ userId: String, metadata: EventMetadata) async throws -> Erasure {
        guard (1...64).contains(userId.count) else { throw ChatError.invalid("\"userId\" must be a user id from POST /v1/viewers") }
        var metadata = metadata
        metadata.reason = metadata.reason?.trimmingCharacters(in: .whitespacesAndNewlines).prefix(500).description
        guard metadata.reason?.isEmpty == false else {
            throw ChatError.invalid("an erasure needs a reason (the request it answers, not the erased data), for the audit log")
        }
        let ids = try await keys.destroy(userId: userId, in: store.readModels, logger: logger)
        if ids.isEmpty, try await !readModel.viewerExists(userId) { throw ChatError.viewerNotFound(userId) }
        let result = try await store.append(
            ViewerErased(userId: userId, keyIds: ids), to: ChatStream.viewers, metadata: metadata)
        return Erasure(userId: userId, position: result.lastPosition, keysDestroyed: ids.count)
    }

    /// Returns once the read model has applied `position` and this node's sockets were given it
    /// (each after at most 10 s); false when the read model had not.
    public func settle(_ position: Int64) async -> Bool {
        let applied = await runner.waitUntil(position)
        await waitDelivered(position)
        return applied
    }

    private nonisolated func forgetKeys(_ event: RecordedEvent) {
        guard let erased = try? store.registry.decode(event, as: ViewerErased.self) else { return }
        keys.forget(userId: erased.userId, keyIds: erased.keyIds)
    }

    /// Messages sent in [from, to) and posted by `asOf` (a log position; now when nil), oldest
    /// first, without what moderators took down (deleted, or hidden by a ban in force), however
    /// late the takedown came; with `includingRemoved` (only for the admin and the room's
    /// moderators) with it, marked.
    public nonisolated func history(
        _ channel: String, from: Date, to: Date, asOf: Int64?, after: Int64 = 0, limit: Int = 500, includingRemoved: Bool = false
    ) async throws -> [ChatMessageView] {
        guard try await channels.channel(named: channel) != nil else { throw ChatError.roomNotFound(channel) }
        // The read model trails the log by up to `readModelInterval`: include what was just posted.
        await runner.waitUntil(await store.knownHeadPosition(), timeout: .seconds(2))
        return try await readModel.history(
            channel, from: from, to: to, asOf: asOf, after: after, limit: limit, includingRemoved: includingRemoved)
    }
}

/// Just the key id of an event's sealed fields, read without opening them.
private struct SealedKeyReference: Decodable {
    struct Field: Decodable {
        struct Sealed: Decodable { var key: UUID }
        var sealed: Sealed?
    }
    var personal: Field?
    var reason: Field?
}
