import Foundation
import Logging
import PostgresNIO

/// Rebuilds a SQL read model from position 0 into a scratch schema, as of a position, and compares
/// it row by row with the live model (`streamd events replay`).
public struct ProjectionReplay: Sendable {
    public struct TableDifference: Sendable, Hashable {
        public var table: String
        /// Rows only the live model has, and rows only the rebuilt one has (as JSON, a few each).
        public var onlyLive: [String]
        public var onlyReplayed: [String]
        public var onlyLiveCount: Int
        public var onlyReplayedCount: Int
    }

    public struct Report: Sendable, Hashable, CustomStringConvertible {
        public var projection: String
        public var liveCheckpoint: Int64
        public var replayedUntil: Int64
        public var eventsApplied: Int
        public var differences: [TableDifference]

        public var isIdentical: Bool { differences.isEmpty }

        public var description: String {
            var lines = [
                "projection \(projection): rebuilt from \(eventsApplied) events up to position \(replayedUntil); live model at position \(liveCheckpoint)"
            ]
            if isIdentical {
                lines.append("identical")
            } else {
                for difference in differences {
                    lines.append(
                        "table \(difference.table): \(difference.onlyLiveCount) rows only in the live model, \(difference.onlyReplayedCount) only in the rebuild"
                    )
                    lines += difference.onlyLive.map { "  live only:    \($0)" }
                    lines += difference.onlyReplayed.map { "  rebuild only: \($0)" }
                }
            }
            return lines.joined(separator: "\n")
        }
    }

    let store: EventStore
    let projection: any SQLProjection

    public init(store: EventStore, projection: any SQLProjection) {
        self.store = store
        self.projection = projection
    }

    /// `until` defaults to the live model's checkpoint, so that both sides saw the same events.
    public func run(until: Int64? = nil, keepSchema: Bool = false) async throws -> Report {
        let logger = store.logger
        let registry = store.registry
        let projection = self.projection
        let live = try await ProjectionRunner.checkpoint(projection.name, store: store)
        let limit = until ?? live
        let schema = "replay_\(projection.name.filter { $0.isLetter || $0.isNumber })_\(UInt32.random(in: 0...UInt32.max))"
        return try await store.client.withConnection { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(schema)"), logger: logger)
            do {
                for table in projection.tables {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "CREATE TABLE \(schema).\(table) (LIKE public.\(table) INCLUDING ALL)"), logger: logger)
                }
                var position: Int64 = 0
                var applied = 0
                while position < limit {
                    let page = try await EventStore.read(
                        after: position, limit: 1_000, filter: projection.filter, on: connection, logger: logger
                    )
                    .filter { $0.position <= limit }
                    if page.isEmpty { break }
                    try await connection.withTransaction(logger: logger) { connection in
                        try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(schema), public"), logger: logger)
                        for event in page {
                            try await projection.apply(event, registry: registry, connection: connection, logger: logger)
                        }
                    }
                    applied += page.count
                    position = page[page.count - 1].position
                }
                var differences: [TableDifference] = []
                for table in projection.tables {
                    let onlyLive = try await rows(connection, "SELECT * FROM public.\(table) EXCEPT ALL SELECT * FROM \(schema).\(table)")
                    let onlyReplayed = try await rows(
                        connection, "SELECT * FROM \(schema).\(table) EXCEPT ALL SELECT * FROM public.\(table)")
                    if onlyLive.count > 0 || onlyReplayed.count > 0 {
                        differences.append(
                            TableDifference(
                                table: table, onlyLive: Array(onlyLive.prefix(5)), onlyReplayed: Array(onlyReplayed.prefix(5)),
                                onlyLiveCount: onlyLive.count, onlyReplayedCount: onlyReplayed.count))
                    }
                }
                if !keepSchema {
                    try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"), logger: logger)
                }
                return Report(
                    projection: projection.name, liveCheckpoint: live, replayedUntil: limit, eventsApplied: applied,
                    differences: differences)
            } catch {
                _ = try? await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA IF EXISTS \(schema) CASCADE"), logger: logger)
                throw error
            }
        }
    }

    private func rows(_ connection: PostgresConnection, _ query: String) async throws -> [String] {
        var result: [String] = []
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT row_to_json(d)::text FROM (\(query)) d"), logger: store.logger)
        for try await row in rows.decode(String.self) { result.append(row) }
        return result
    }
}
