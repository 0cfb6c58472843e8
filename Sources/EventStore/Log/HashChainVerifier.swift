import Foundation
import Logging
import PostgresNIO

/// Walks the log and recomputes its hash chain (`HashChain`, migrations/0007) from the rows' raw
/// columns: an edited, deleted or reordered row breaks the chain at the first position it touched.
public struct HashChainVerifier: Sendable {
    public enum Outcome: Sendable, Hashable, CustomStringConvertible {
        case verified(count: Int64)
        case broken(position: Int64, reason: String)

        public var description: String {
            switch self {
            case .verified(let count): "\(count) events verified"
            case .broken(let position, let reason): "hash chain broken at position \(position): \(reason)"
            }
        }
    }

    let store: EventStore

    public init(store: EventStore) { self.store = store }

    public func verify(pageSize: Int = 10_000) async throws -> Outcome {
        try await store.client.withConnection { connection in
            // One snapshot for the walk and the head: appends go on while a live log is verified.
            _ = try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: store.logger)
            do {
                let outcome = try await walk(connection, pageSize: pageSize)
                _ = try await connection.query("COMMIT", logger: store.logger)
                return outcome
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: store.logger)
                throw error
            }
        }
    }

    private func walk(_ connection: PostgresConnection, pageSize: Int) async throws -> Outcome {
        var previousHash = HashChain.genesis
        var previousPosition: Int64 = 0
        while true {
            // The raw columns, hashed here: a redefined `streamd_event_canonical` cannot vouch for a row.
            let rows = try await LogRow.read(
                after: previousPosition, through: .max, limit: pageSize, on: connection, logger: store.logger)
            let count = rows.count
            // Rows stored right after archived ones (`streamd events archive`) go on from the chain
            // value recorded for them; the archive file, checked against a checkpoint, covers the rest.
            var anchors: [Int64: [UInt8]] = [:]
            if let last = rows.last?.position, last > previousPosition + Int64(count) {
                let found = try await connection.query(
                    "SELECT position, previous_hash FROM event_chain_anchors WHERE position > \(previousPosition) AND position <= \(last)",
                    logger: store.logger)
                for try await (position, hash) in found.decode((Int64, ByteBuffer).self) { anchors[position] = Array(buffer: hash) }
            }
            for row in rows {
                let position = row.position
                if position != previousPosition + 1, let anchor = anchors[position] {
                    previousHash = anchor
                    previousPosition = position - 1
                }
                guard position == previousPosition + 1 else {
                    return .broken(
                        position: previousPosition + 1, reason: "the event is missing (deleted); the next stored position is \(position)")
                }
                let expected = HashChain.next(after: previousHash, canonical: row.canonical)
                let storedHash = row.chainHash ?? []
                guard storedHash == expected else {
                    return .broken(position: position, reason: "its content or place does not match the hash chain (edited or reordered)")
                }
                previousHash = storedHash
                previousPosition = position
            }
            if count < pageSize { break }
        }
        let head = try await connection.query("SELECT position, hash FROM event_log_head", logger: store.logger)
        for try await (position, hash) in head.decode((Int64, ByteBuffer).self) {
            if position != previousPosition {
                return .broken(
                    position: previousPosition + 1,
                    reason: "the log head says \(position) events were appended, but only \(previousPosition) are there (deleted)")
            }
            if Array(buffer: hash) != previousHash {
                return .broken(
                    position: previousPosition, reason: "the last event does not match the hash recorded in the log head (edited)")
            }
        }
        return .verified(count: previousPosition)
    }
}
