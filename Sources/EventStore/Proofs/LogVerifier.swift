import Foundation
import Logging
import PostgresNIO

/// `streamd events verify --checkpoint`: checks the log in the database against checkpoints
/// signed outside it. Every row's bytes are computed here from its raw columns, the tree is
/// rebuilt from them, and its root at each trusted checkpoint's size must be that checkpoint's.
/// The stored hash chain and tree nodes must agree too, which names an edited row exactly when
/// only the row was changed. When someone rewrote the row and every hash and node after it, the
/// signed roots are the only witnesses: the first bad position lies after the last checkpoint
/// that still matches and at or before the first that does not (exact when checkpoints are dense,
/// as they are at low append rates, or in a pushed checkpoint directory).
public struct LogVerifier: Sendable {
    public struct Report: Sendable, CustomStringConvertible {
        public let size: Int64
        /// The root this verifier computed at `size` from the rows.
        public let root: Merkle.Hash
        /// nil when the log matches; else the first bad position (or range) and why.
        public let failure: Failure?
        public let notes: [String]

        public struct Failure: Sendable, Equatable {
            /// The first position known bad; `firstPossible...position` when only a range is known.
            public let position: Int64
            public let firstPossible: Int64
            public let reason: String
        }

        public var isVerified: Bool { failure == nil }

        public var description: String {
            var lines = [
                "tree size \(size)", "root \(Data(root).base64EncodedString()) (hex \(root.map { String(format: "%02x", $0) }.joined()))",
            ]
            lines += notes
            if let failure {
                let place =
                    failure.firstPossible == failure.position
                    ? "first bad position \(failure.position)"
                    : "first bad position between \(failure.firstPossible) and \(failure.position)"
                lines.append("FAILED: \(place): \(failure.reason)")
            } else {
                lines.append("verified: the log matches the signed checkpoint at size \(size)")
            }
            return lines.joined(separator: "\n")
        }
    }

    let store: EventStore
    let key: CheckpointVerifierKey

    public init(store: EventStore, key: CheckpointVerifierKey) {
        self.store = store
        self.key = key
    }

    /// `archives`: the files of `streamd events archive`, whose events stand in for the rows it removed.
    public func verify(
        against checkpoint: Checkpoint, also extra: [Checkpoint] = [], archives: ArchiveRows? = nil, pageSize: Int = 10_000
    ) async throws -> Report {
        try await store.client.withConnection { connection in
            _ = try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: store.logger)
            do {
                let report = try await walk(connection, checkpoint: checkpoint, extra: extra, archives: archives, pageSize: pageSize)
                _ = try await connection.query("COMMIT", logger: store.logger)
                return report
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: store.logger)
                throw error
            }
        }
    }

    private func walk(
        _ connection: PostgresConnection, checkpoint: Checkpoint, extra: [Checkpoint], archives: ArchiveRows?, pageSize: Int
    ) async throws -> Report {
        let logger = store.logger
        let target = checkpoint.size
        var notes: [String] = []
        var archived = Archived(rows: archives)
        let records = try await LogArchive.records(on: connection, logger: logger)
        let archivedThrough = records.map(\.through).max() ?? 0
        func missing(_ position: Int64, next: Int64?) -> String {
            if position <= archivedThrough, archives == nil {
                let files = records.filter { $0.through >= position }.map(\.file).joined(separator: ", ")
                return "the event was archived (`streamd events archive` into \(files)); give the archive with --archive to verify it"
            }
            return next.map { "the event is missing (deleted); the next stored position is \($0)" }
                ?? "the log ends at position \(position - 1) but the checkpoint covers \(target) events (the tail was deleted)"
        }

        // Trusted roots by size: the given checkpoint, any others given, and the database's own
        // checkpoints whose signatures verify (the database cannot forge those).
        var trusted: [Int64: Merkle.Hash] = [:]
        var forks: [String] = []
        func trust(_ c: Checkpoint, _ source: String) {
            if let known = trusted[c.size], known != c.root {
                forks.append("two checkpoints of size \(c.size) have different roots (one from \(source)): the log was forked or rewritten")
            } else {
                trusted[c.size] = c.root
            }
        }
        trust(checkpoint, "the given checkpoint")
        for c in extra { trust(c, "the given checkpoints") }
        var stored = 0
        var unsigned = 0
        let rows = try await connection.query(
            "SELECT note FROM merkle_checkpoints WHERE size <= \(target) ORDER BY size", logger: logger)
        for try await note in rows.decode(String.self) {
            if let c = try? Checkpoint(note: note, key: key) {
                stored += 1
                trust(c, "the database")
            } else {
                unsigned += 1
            }
        }
        notes.append("\(trusted.count) signed roots checked (\(stored) checkpoints from the database)")
        if unsigned > 0 {
            notes.append("warning: \(unsigned) checkpoints in the database are not signed by \(key.name): forged, or made with another key")
        }
        if let fork = forks.first {
            return Report(size: target, root: [], failure: .init(position: target, firstPossible: 1, reason: fork), notes: notes)
        }

        let treeSize = try await MerkleTree.size(on: connection, logger: logger)
        var frontier = MerkleFrontier()
        var chain = HashChain.genesis
        var firstChainBreak: Int64?
        var firstNodeMismatch: (position: Int64, what: String)?
        var lastMatching: Int64 = 0
        var firstMismatching: Int64?
        if trusted[0] != nil, trusted[0] != Merkle.emptyRoot { firstMismatching = 0 }

        while frontier.size < target {
            var page = try await LogRow.read(after: frontier.size, through: target, limit: pageSize, on: connection, logger: logger)
            if archives != nil {
                do {
                    page = try archived.merge(page, through: page.count == pageSize ? page.last?.position ?? target : target)
                } catch {
                    return Report(
                        size: target, root: frontier.root,
                        failure: .init(position: frontier.size + 1, firstPossible: frontier.size + 1, reason: "\(error)"),
                        notes: notes)
                }
            }
            guard let first = page.first, first.position == frontier.size + 1 else {
                let position = frontier.size + 1
                return Report(
                    size: target, root: frontier.root,
                    failure: .init(position: position, firstPossible: position, reason: missing(position, next: page.first?.position)),
                    notes: notes)
            }
            var finished: [(node: Merkle.Node, hash: Merkle.Hash, position: Int64)] = []
            for row in page {
                guard row.position == frontier.size + 1 else {
                    let position = frontier.size + 1
                    return Report(
                        size: target, root: frontier.root,
                        failure: .init(position: position, firstPossible: position, reason: missing(position, next: row.position)),
                        notes: notes)
                }
                let canonical = row.canonical
                chain = HashChain.next(after: chain, canonical: canonical)
                if firstChainBreak == nil, row.chainHash != chain { firstChainBreak = row.position }
                for (node, hash) in frontier.append(leaf: Merkle.leafHash(canonical)) where node.index << node.level < treeSize {
                    // Stored nodes exist only below the stored tree's size.
                    if (node.index + 1) << node.level <= treeSize { finished.append((node, hash, row.position)) }
                }
                if let root = trusted[frontier.size] {
                    if root == frontier.root {
                        if firstMismatching == nil { lastMatching = frontier.size }
                    } else if firstMismatching == nil {
                        firstMismatching = frontier.size
                    }
                }
            }
            if firstNodeMismatch == nil, !finished.isEmpty {
                let storedNodes = try await MerkleTree.nodes(Set(finished.map(\.node)), on: connection, logger: logger)
                for item in finished {
                    let firstLeaf = (item.node.index << item.node.level) + 1
                    guard let storedHash = storedNodes[item.node] else {
                        firstNodeMismatch = (firstLeaf, "the stored Merkle tree lacks a node covering it (deleted)")
                        break
                    }
                    if storedHash != item.hash {
                        firstNodeMismatch = (
                            firstLeaf,
                            item.node.level == 0
                                ? "the event does not match its leaf in the stored Merkle tree (edited)"
                                : "a stored Merkle tree node from here on (level \(item.node.level)) does not match the events (edited)"
                        )
                        break
                    }
                }
            }
        }
        let root = frontier.root
        if archived.used > 0 { notes.append("\(archived.used) archived events read from the archives given") }
        if firstNodeMismatch == nil {
            notes.append("the stored tree nodes agree with the events (up to the tree's size \(min(treeSize, target)))")
        }
        if firstChainBreak == nil { notes.append("the hash chain agrees with the events") }

        let exact = [firstChainBreak, firstNodeMismatch?.position].compactMap { $0 }.min()
        if let bad = firstMismatching {
            let low = lastMatching + 1
            let reason =
                "the events do not match the signed checkpoint at size \(bad) (the last signed checkpoint that matches is at size \(lastMatching))"
            if let exact, exact >= low, exact <= bad {
                let why = exact == firstChainBreak ? "its content does not match the hash chain" : (firstNodeMismatch?.what ?? "")
                return Report(
                    size: target, root: root, failure: .init(position: exact, firstPossible: exact, reason: "\(reason); \(why)"),
                    notes: notes)
            }
            return Report(size: target, root: root, failure: .init(position: bad, firstPossible: low, reason: reason), notes: notes)
        }
        if let exact {
            let why = exact == firstChainBreak ? "the stored hash chain does not match the events" : (firstNodeMismatch?.what ?? "")
            return Report(
                size: target, root: root,
                failure: .init(
                    position: exact, firstPossible: exact,
                    reason: "\(why), although the events match the signed checkpoints: the database's hashes were altered"), notes: notes)
        }
        return Report(size: target, root: root, failure: nil, notes: notes)
    }
}

/// Archived rows merged into the pages read from the database, in position order.
private struct Archived {
    var rows: ArchiveRows?
    var peeked: LogRow?
    var used = 0

    /// `page` with every archived row at or below `through` that it lacks; a position in both
    /// must be the same event.
    mutating func merge(_ page: [LogRow], through: Int64) throws -> [LogRow] {
        guard rows != nil else { return page }
        var taken: [LogRow] = []
        while true {
            if peeked == nil { peeked = try rows?.next() }
            guard let row = peeked, row.position <= through else { break }
            taken.append(row)
            peeked = nil
        }
        guard !taken.isEmpty else { return page }
        var stored = [Int64: LogRow]()
        for row in page { stored[row.position] = row }
        for row in taken {
            if let kept = stored[row.position] {
                guard kept.canonical == row.canonical else {
                    throw ArchiveRows.Problem("#\(row.position) is both in the log and in an archive, and they differ")
                }
            } else {
                stored[row.position] = row
                used += 1
            }
        }
        return stored.values.sorted { $0.position < $1.position }
    }
}
