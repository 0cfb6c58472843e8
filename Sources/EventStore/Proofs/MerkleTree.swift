import Foundation
import Logging
import PostgresNIO

/// The stored tree (migrations/0010) as the proofs read it: roots, inclusion and consistency
/// proofs at any size the integrator has reached, each from O(log n) stored nodes in one query.
public struct MerkleTree: Sendable {
    let store: EventStore

    public init(store: EventStore) { self.store = store }

    /// Leaves in the stored tree.
    public func size() async throws -> Int64 {
        try await store.client.withConnection { try await Self.size(on: $0, logger: store.logger) }
    }

    static func size(on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for try await size in try await connection.query("SELECT size FROM merkle_head", logger: logger).decode(Int64.self) {
            return size
        }
        return 0
    }

    static func nodes(
        _ wanted: Set<Merkle.Node>, on connection: PostgresConnection, logger: Logger
    ) async throws -> [Merkle.Node: Merkle.Hash] {
        guard !wanted.isEmpty else { return [:] }
        let list = Array(wanted)
        let levels = list.map { Int16($0.level) }
        let indexes = list.map(\.index)
        let rows = try await connection.query(
            """
            SELECT m.level, m.idx, m.hash FROM unnest(\(levels)::smallint[], \(indexes)::bigint[]) AS w(level, idx)
            JOIN merkle_nodes m ON m.level = w.level AND m.idx = w.idx
            """, logger: logger)
        var found: [Merkle.Node: Merkle.Hash] = [:]
        for try await (level, index, hash) in rows.decode((Int16, Int64, ByteBuffer).self) {
            found[Merkle.Node(level: Int(level), index: index)] = Array(buffer: hash)
        }
        return found
    }

    static func hashes(of ranges: [Range<Int64>], on connection: PostgresConnection, logger: Logger) async throws -> [Merkle.Hash] {
        let found = try await nodes(Merkle.nodes(for: ranges), on: connection, logger: logger)
        return try Merkle.hashes(for: ranges, from: found)
    }

    public func root(size: Int64) async throws -> Merkle.Hash {
        guard size > 0 else { return Merkle.emptyRoot }
        return try await store.client.withConnection { connection in
            try await Self.hashes(of: [0..<size], on: connection, logger: store.logger)[0]
        }
    }

    /// PATH(position − 1, D[0:size]).
    public func inclusionProof(position: Int64, size: Int64) async throws -> [Merkle.Hash] {
        guard position >= 1, position <= size else {
            throw EventStoreError.database("position \(position) is not in a tree of \(size) events")
        }
        return try await store.client.withConnection { connection in
            try await Self.hashes(of: Merkle.inclusionRanges(index: position - 1, size: size), on: connection, logger: store.logger)
        }
    }

    public func leafHash(position: Int64) async throws -> Merkle.Hash {
        try await store.client.withConnection { connection in
            try await Self.hashes(of: [(position - 1)..<position], on: connection, logger: store.logger)[0]
        }
    }

    public func consistencyProof(oldSize: Int64, newSize: Int64) async throws -> [Merkle.Hash] {
        guard oldSize >= 0, oldSize <= newSize else {
            throw EventStoreError.database("a consistency proof needs OLD ≤ NEW (got \(oldSize) and \(newSize))")
        }
        return try await store.client.withConnection { connection in
            try await Self.hashes(of: Merkle.consistencyRanges(old: oldSize, new: newSize), on: connection, logger: store.logger)
        }
    }

    /// Stored checkpoints, newest first, that `key` signed; notes that fail are skipped (a
    /// verifier reports them through `LogVerifier`).
    public func checkpoints(key: CheckpointVerifierKey, limit: Int = 1) async throws -> [Checkpoint] {
        try await store.client.withConnection { connection in
            let rows = try await connection.query(
                "SELECT note FROM merkle_checkpoints ORDER BY size DESC, id DESC LIMIT \(Int64(limit))", logger: store.logger)
            var result: [Checkpoint] = []
            for try await note in rows.decode(String.self) {
                if let checkpoint = try? Checkpoint(note: note, key: key) { result.append(checkpoint) }
            }
            return result
        }
    }

    public func latestCheckpoint(key: CheckpointVerifierKey) async throws -> Checkpoint? {
        try await checkpoints(key: key, limit: 1).first
    }
}
