import Foundation
import Logging
import PostgresNIO

/// Extends the stored Merkle tree past the log's head and signs checkpoints. Appends never wait
/// for it: it reads committed rows after the tree's size, hashes them here (`LogRow`), and adds
/// the leaves and every node they complete in one transaction per page, under `merkle_head`'s
/// lock, so several integrators (a node, `streamd events checkpoint`) can run at once.
public actor MerkleIntegrator {
    public struct Options: Sendable {
        /// The most time between a commit and a checkpoint that covers it, while appending
        /// (docs/benchmarks.md#proofs).
        public var checkpointInterval: Duration = .milliseconds(500)
        public var pageSize = 5_000
        /// Each checkpoint is also written here as `SIZE-MILLISECONDS.checkpoint` (and `latest`).
        public var pushDirectory: URL?
        /// Called with each new checkpoint after it is stored (a push to a witness, a benchmark).
        public var onCheckpoint: (@Sendable (Checkpoint) async -> Void)?

        public init() {}
    }

    let store: EventStore
    let key: CheckpointKey
    let options: Options
    private var frontier: MerkleFrontier?
    private var lastSigned: (size: Int64, at: ContinuousClock.Instant)?

    public init(store: EventStore, key: CheckpointKey, options: Options = Options()) {
        self.store = store
        self.key = key
        self.options = options
    }

    /// Adds every committed event to the tree; returns its size.
    @discardableResult
    public func integrate() async throws -> Int64 {
        while true {
            let (size, added) = try await integratePage()
            if added < options.pageSize { return size }
        }
    }

    private func integratePage() async throws -> (size: Int64, added: Int) {
        let (logger, pageSize) = (store.logger, options.pageSize)
        var frontier = self.frontier
        let result: (MerkleFrontier, Int) = try await store.client.withTransaction(logger: logger) { connection in
            // The tree is rebuilt from the durable log if a crash loses its last pages.
            try await connection.query("SET LOCAL synchronous_commit = off", logger: logger)
            var size: Int64 = 0
            for try await stored in try await connection.query("SELECT size FROM merkle_head FOR UPDATE", logger: logger).decode(Int64.self)
            {
                size = stored
            }
            if frontier?.size != size {
                frontier = try await Self.loadFrontier(size: size, on: connection, logger: logger)
            }
            guard var tree = frontier else { throw EventStoreError.database("the Merkle tree's edge could not be loaded") }
            let rows = try await LogRow.read(after: size, through: .max, limit: pageSize, on: connection, logger: logger)
            guard !rows.isEmpty else { return (tree, 0) }
            var levels: [Int16] = []
            var indexes: [Int64] = []
            var hashes: [ByteBuffer] = []
            levels.reserveCapacity(rows.count * 2)
            for row in rows {
                guard row.position == tree.size + 1 else {
                    throw EventStoreError.database(
                        "the log has no event at position \(tree.size + 1) (the next is \(row.position)); run `streamd events verify`")
                }
                for (node, hash) in tree.append(leaf: row.leafHash) {
                    levels.append(Int16(node.level))
                    indexes.append(node.index)
                    hashes.append(ByteBuffer(bytes: hash))
                }
            }
            try await connection.query(
                """
                INSERT INTO merkle_nodes (level, idx, hash)
                SELECT * FROM unnest(\(levels)::smallint[], \(indexes)::bigint[], \(hashes)::bytea[])
                """, logger: logger)
            try await connection.query("UPDATE merkle_head SET size = \(tree.size)", logger: logger)
            return (tree, rows.count)
        }
        self.frontier = result.0
        return (result.0.size, result.1)
    }

    static func loadFrontier(size: Int64, on connection: PostgresConnection, logger: Logger) async throws -> MerkleFrontier {
        let peaks = MerkleFrontier.peakNodes(size: size)
        let found = try await MerkleTree.nodes(Set(peaks), on: connection, logger: logger)
        var hashes: [Merkle.Hash] = []
        for node in peaks {
            guard let hash = found[node] else {
                throw EventStoreError.database(
                    "the Merkle tree of \(size) events lacks its node at level \(node.level), index \(node.index); run `streamd events verify`"
                )
            }
            hashes.append(hash)
        }
        return try MerkleFrontier(size: size, peakHashes: hashes)
    }

    /// Integrates, then signs and stores a checkpoint of the whole tree (also when it has not
    /// grown: an operator asked for a fresh one).
    public func checkpoint() async throws -> Checkpoint {
        try await integrate()
        guard let tree = frontier else { throw EventStoreError.database("the Merkle tree's edge could not be loaded") }
        let checkpoint = try Checkpoint.sign(size: tree.size, root: tree.root, time: Date(), key: key)
        let logger = store.logger
        try await store.client.withTransaction(logger: logger) { connection in
            try await connection.query("SET LOCAL synchronous_commit = off", logger: logger)
            try await connection.query(
                """
                INSERT INTO merkle_checkpoints (size, root, made_at, note)
                VALUES (\(checkpoint.size), \(ByteBuffer(bytes: checkpoint.root)), \(checkpoint.time), \(checkpoint.note))
                """, logger: logger)
        }
        lastSigned = (tree.size, .now)
        if let directory = options.pushDirectory { push(checkpoint, to: directory) }
        await options.onCheckpoint?(checkpoint)
        return checkpoint
    }

    private func push(_ checkpoint: Checkpoint, to directory: URL) {
        let milliseconds = Int64(checkpoint.time.timeIntervalSince1970 * 1000)
        let file = directory.appendingPathComponent("\(checkpoint.size)-\(milliseconds).checkpoint")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(checkpoint.note.utf8).write(to: file, options: .atomic)
            try Data(checkpoint.note.utf8).write(to: directory.appendingPathComponent("latest"), options: .atomic)
        } catch {
            store.logger.error("could not push checkpoint \(checkpoint.size) to \(directory.path): \(error)")
        }
    }

    /// Keeps the tree at the log's head and signs a checkpoint within `checkpointInterval` of
    /// any append, until cancelled. Database errors are logged and retried.
    public func run() async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                let size = try await integrate()
                delay = .milliseconds(200)
                if size > (lastSigned?.size ?? 0) || lastSigned == nil {
                    let due = (lastSigned?.at ?? ContinuousClock.now - options.checkpointInterval) + options.checkpointInterval
                    if ContinuousClock.now < due {
                        try await Task.sleep(until: due)
                        continue
                    }
                    _ = try await checkpoint()
                } else {
                    await store.waitForEvents(after: size)
                }
            } catch is CancellationError {
                return
            } catch {
                if Task.isCancelled { return }
                store.logger.error("the Merkle integrator failed, retrying: \(error)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}
