import EventStore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Viewers' data keys (migrations/0013, `viewer_keys`: one per viewer at a time, outside the
/// hashed log) and this node's cache of them. Sealing and the hot path read the cache; a key it
/// lacks is loaded once (`load`) before the event that needs it is applied. Destroying a key
/// (`destroy`) and a `ViewerErased` from the log both drop it here at once, so nothing on this
/// node opens that viewer's fields again. A key absent from the table reads as erased.
public final class ViewerKeys: Sendable {
    public enum Lookup: Sendable {
        case key(DataKey)
        case erased
    }

    struct Entry {
        var userId: String?
        var key: DataKey?
    }

    struct State {
        var byId: [UUID: Entry] = [:]
        /// The key each viewer seals with now.
        var current: [String: DataKey] = [:]

        mutating func remember(_ key: DataKey, of userId: String) {
            if byId.count >= ViewerKeys.capacity { byId = [:] }
            if current.count >= ViewerKeys.capacity { current = [:] }
            byId[key.id] = Entry(userId: userId, key: key)
            current[userId] = key
        }
    }

    /// Keys held in memory at most (each direction); past it the cache starts over.
    static let capacity = 100_000
    private let state = Mutex(State())

    public init() {}

    /// The cached state of key `id`; nil when this node has not loaded it.
    public func cached(_ id: UUID) -> Lookup? {
        state.withLock { state in
            guard let entry = state.byId[id] else { return nil }
            return entry.key.map(Lookup.key) ?? .erased
        }
    }

    /// The key `userId`'s fields are sealed under from now on, made on first use.
    public func sealingKey(for userId: String, in database: ReadModelDatabase, logger: Logger) async throws -> DataKey {
        if let key = state.withLock({ $0.current[userId] }) { return key }
        for _ in 0..<3 {
            let fresh = DataKey.generate()
            // The insert's row, or the row another writer made first (a racing insert committed
            // after this statement's snapshot yields neither: try again).
            let rows = try await database.query(
                """
                WITH made AS (
                    INSERT INTO viewer_keys (user_id, key_id, key) VALUES (\(userId), \(fresh.id), \(ByteBuffer(bytes: fresh.bytes)))
                    ON CONFLICT (user_id) DO NOTHING RETURNING key_id, key)
                SELECT key_id, key FROM made UNION ALL SELECT key_id, key FROM viewer_keys WHERE user_id = \(userId)
                """, logger: logger)
            for try await (id, bytes) in rows.decode((UUID, ByteBuffer).self) {
                guard let key = DataKey(id: id, bytes: Array(bytes.readableBytesView)) else {
                    throw ChatError.invalid("viewer_keys holds a malformed key for \(userId); erase the viewer to replace it")
                }
                state.withLock { $0.remember(key, of: userId) }
                return key
            }
        }
        throw ChatError.invalid("could not make a data key for \(userId); retry")
    }

    /// Key `id` from the table (on `connection`, so inside a projection's transaction), cached.
    public func load(_ id: UUID, on connection: PostgresConnection, logger: Logger) async throws -> Lookup {
        if let cached = cached(id) { return cached }
        let rows = try await connection.query("SELECT user_id, key FROM viewer_keys WHERE key_id = \(id)", logger: logger)
        return try await remember(id, rows.decode((String, ByteBuffer).self))
    }

    /// Key `id` from the table, cached.
    public func load(_ id: UUID, from database: ReadModelDatabase, logger: Logger) async throws -> Lookup {
        if let cached = cached(id) { return cached }
        let rows = try await database.query("SELECT user_id, key FROM viewer_keys WHERE key_id = \(id)", logger: logger)
        return try await remember(id, rows.decode((String, ByteBuffer).self))
    }

    private func remember(_ id: UUID, _ rows: some AsyncSequence<(String, ByteBuffer), any Error>) async throws -> Lookup {
        for try await (userId, bytes) in rows {
            if let key = DataKey(id: id, bytes: Array(bytes.readableBytesView)) {
                // Only the sealing key is `current`; an older id (there is none today) would not be.
                state.withLock { state in
                    if state.byId.count >= Self.capacity { state.byId = [:] }
                    state.byId[id] = Entry(userId: userId, key: key)
                }
                return .key(key)
            }
        }
        state.withLock { state in
            if state.byId.count >= Self.capacity { state.byId = [:] }
            state.byId[id] = Entry(userId: nil, key: nil)
        }
        return .erased
    }

    /// Deletes `userId`'s keys from the table and from this node; returns their ids.
    public func destroy(userId: String, in database: ReadModelDatabase, logger: Logger) async throws -> [UUID] {
        var ids: [UUID] = []
        for try await id in try await database.query(
            "DELETE FROM viewer_keys WHERE user_id = \(userId) RETURNING key_id", logger: logger
        ).decode(UUID.self) {
            ids.append(id)
        }
        forget(userId: userId, keyIds: ids)
        return ids
    }

    /// Puts a key in the cache alone (sans-I/O tests).
    func cache(_ key: DataKey, of userId: String) { state.withLock { $0.remember(key, of: userId) } }

    /// Drops `userId`'s keys (and `keyIds`) from this node: they read as erased from now on.
    public func forget(userId: String, keyIds: [UUID]) {
        state.withLock { state in
            state.current[userId] = nil
            for (id, entry) in state.byId where entry.userId == userId { state.byId[id] = Entry(userId: userId, key: nil) }
            for id in keyIds { state.byId[id] = Entry(userId: userId, key: nil) }
        }
    }
}

extension PersonalData {
    /// The fields, or nil when they are sealed under a key that is erased or not in `keys`' cache
    /// (callers load the key first), or that does not open them.
    public func open(with keys: ViewerKeys, context: String) -> Fields? {
        switch self {
        case .plain(let fields): return fields
        case .sealed(let envelope):
            guard case .key(let key) = keys.cached(envelope.keyId) else { return nil }
            return try? key.open(envelope, as: Fields.self, context: context)
        }
    }

    /// The fields, loading the key on `connection` when the cache lacks it; nil when erased.
    public func open(with keys: ViewerKeys, context: String, on connection: PostgresConnection, logger: Logger) async throws -> Fields? {
        if let id = keyId, keys.cached(id) == nil { _ = try await keys.load(id, on: connection, logger: logger) }
        return open(with: keys, context: context)
    }
}
