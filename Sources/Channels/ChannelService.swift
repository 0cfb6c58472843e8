import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The channel aggregate (stream `channel-NAME`): commands append events, queries read the
/// `channels` projection, which this service runs and waits for so callers read their own writes.
///
/// The projection runs in `run()` (a node runs it as one of its services); a command-line tool or
/// a test that uses the service alone brackets its work with `start()` and `shutdown()`.
public final class ChannelService: Sendable {
    public let store: EventStore
    public let runner: ProjectionRunner
    private let standalone = Mutex<Task<Void, Never>?>(nil)

    public init(store: EventStore) {
        self.store = store
        self.runner = ProjectionRunner(store: store, sql: ChannelsProjection())
    }

    /// Keeps the `channels` read model current until cancelled.
    public func run() async {
        await runner.run()
    }

    /// Runs the read model in a task of its own until `shutdown()`.
    public func start() {
        standalone.withLock { task in
            guard task == nil else { return }
            task = Task { await self.run() }
        }
    }

    public func shutdown() async {
        guard let task = standalone.withLock({ $0 }) else { return }
        task.cancel()
        await task.value
    }

    public static func validate(name: String) throws {
        let allowed = name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-" }
        guard (2...63).contains(name.count), allowed, name.first != "-", name.last != "-" else {
            throw ChannelError.invalidName(name)
        }
    }

    static func streamId(_ name: String) -> String { "channel-\(name)" }

    /// Creates the channel and its first key; the key text is returned this once only.
    public func create(name: String, metadata: EventMetadata) async throws -> (ChannelRecord, StreamKey) {
        try Self.validate(name: name)
        let channelId = UUID()
        let key = StreamKey.generate()
        let result: AppendResult
        do {
            result = try await store.append(
                to: Self.streamId(name), expectedVersion: .noStream,
                events: [
                    try NewEvent(ChannelCreated(channelId: channelId, name: name), metadata: metadata),
                    try NewEvent(
                        StreamKeyIssued(channelId: channelId, keyId: UUID(), keyHash: key.hashHex, keyHint: key.hint), metadata: metadata),
                ])
        } catch EventStoreError.wrongExpectedVersion {
            throw ChannelError.duplicate(name)
        }
        await runner.waitUntil(result.lastPosition)
        guard let channel = try await channel(named: name) else { throw ChannelError.notFound(name) }
        return (channel, key)
    }

    /// Revokes the active key (if any) and issues a new one, in one append.
    public func rotateKey(name: String, metadata: EventMetadata) async throws -> StreamKey {
        try await command(name) { state in try await rotateKey(name: name, state: state, metadata: metadata) }
    }

    private func rotateKey(name: String, state: State, metadata: EventMetadata) async throws -> StreamKey {
        let key = StreamKey.generate()
        var events: [NewEvent] = []
        if let active = state.activeKey {
            var revokeMetadata = metadata
            revokeMetadata.reason = metadata.reason ?? "rotated"
            events.append(try NewEvent(StreamKeyRevoked(channelId: state.channelId, keyId: active), metadata: revokeMetadata))
        }
        events.append(
            try NewEvent(
                StreamKeyIssued(channelId: state.channelId, keyId: UUID(), keyHash: key.hashHex, keyHint: key.hint), metadata: metadata))
        let result = try await store.append(to: Self.streamId(name), expectedVersion: .exact(state.version), events: events)
        await runner.waitUntil(result.lastPosition)
        return key
    }

    public func revokeKey(name: String, metadata: EventMetadata) async throws {
        try await command(name) { state in
            guard let active = state.activeKey else { throw ChannelError.noActiveKey(name) }
            let result = try await store.append(
                StreamKeyRevoked(channelId: state.channelId, keyId: active), to: Self.streamId(name),
                expectedVersion: .exact(state.version), metadata: metadata)
            await runner.waitUntil(result.lastPosition)
        }
    }

    /// Runs a command on the aggregate's state, again from a fresh load when its stream moved
    /// meanwhile: refused publishes are recorded in the channel's stream without changing its
    /// state, and a key rotation must not fail because a leaked key's encoder keeps knocking.
    private func command<T: Sendable>(_ name: String, _ body: (State) async throws -> T) async throws -> T {
        var attempts = 0
        while true {
            let state = try await load(name)
            do {
                return try await body(state)
            } catch EventStoreError.wrongExpectedVersion where attempts < 20 {
                attempts += 1
            }
        }
    }

    private struct State {
        var channelId: UUID
        var activeKey: UUID?
        var version: Int64
    }

    /// The aggregate's state, folded from its own stream (the source of truth for commands).
    private func load(_ name: String) async throws -> State {
        try Self.validate(name: name)
        let events = try await store.readStream(Self.streamId(name))
        guard !events.isEmpty else { throw ChannelError.notFound(name) }
        var state = State(channelId: UUID(), activeKey: nil, version: 0)
        for event in events {
            state.version = event.streamVersion
            switch try ChannelEvent(event, registry: store.registry) {
            case .created(let created): state.channelId = created.channelId
            case .keyIssued(let issued): state.activeKey = issued.keyId
            case .keyRevoked(let revoked): if state.activeKey == revoked.keyId { state.activeKey = nil }
            case nil: break
            }
        }
        return state
    }

    // MARK: Queries (the read model)

    public func list() async throws -> [ChannelRecord] {
        let rows = try await store.readModels.query(
            "SELECT channel_id, name, created_at, created_by, active_key_id IS NOT NULL FROM channels ORDER BY name", logger: store.logger)
        var channels: [ChannelRecord] = []
        for try await (id, name, createdAt, createdBy, hasKey) in rows.decode((UUID, String, Date, String, Bool).self) {
            channels.append(ChannelRecord(id: id, name: name, createdAt: createdAt, createdBy: createdBy, hasActiveKey: hasKey))
        }
        return channels
    }

    public func channel(named name: String) async throws -> ChannelRecord? {
        let rows = try await store.readModels.query(
            """
            SELECT channel_id, name, created_at, created_by, active_key_id IS NOT NULL FROM channels WHERE name = \(name)
            """, logger: store.logger)
        for try await (id, name, createdAt, createdBy, hasKey) in rows.decode((UUID, String, Date, String, Bool).self) {
            return ChannelRecord(id: id, name: name, createdAt: createdAt, createdBy: createdBy, hasActiveKey: hasKey)
        }
        return nil
    }

    /// Looks a presented key up by its hash and compares the hashes in constant time.
    public func check(key text: String) async throws -> StreamKeyCheck {
        let hash = StreamKey.hash(text)
        let rows = try await store.readModels.query(
            """
            SELECT key_hash, channel_id, channel_name, revoked_at, revoked_by, revoke_reason
            FROM stream_keys WHERE key_hash = \(ByteBuffer(bytes: hash))
            """, logger: store.logger)
        for try await (storedHash, channelId, channel, revokedAt, revokedBy, reason) in rows.decode(
            (ByteBuffer, UUID, String, Date?, String?, String?).self
        ) {
            guard StreamKey.constantTimeEqual(Array(buffer: storedHash), hash) else { continue }
            if let revokedAt {
                return .revoked(channel: channel, at: revokedAt, by: revokedBy ?? "unknown", reason: reason)
            }
            return .valid(channelId: channelId, channel: channel)
        }
        return .unknown
    }
}
