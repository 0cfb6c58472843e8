import Foundation
import Logging
import PostgresNIO

/// Rebuilds a SQL read model from position 0 as of a position (`streamd events replay`): into
/// temporary tables, or into a named schema that stays until dropped; and compares live with a
/// rebuild at live's own checkpoint, row by row and by hash (`ReadModelHash`).
///
/// Everything one run reads (the log's head, the live tables, their checkpoint, the events) comes
/// from one REPEATABLE READ snapshot, so appends committing meanwhile change nothing it sees. The
/// log commits in position order (docs/event-log.md), so the snapshot holds a gap-free prefix.
public struct ProjectionReplay: Sendable {
    public struct TableDifference: Sendable, Hashable {
        public var table: String
        /// Rows only the live model has, and rows only the rebuilt one has (as JSON, a few each).
        public var onlyLive: [String]
        public var onlyReplayed: [String]
        public var onlyLiveCount: Int
        public var onlyReplayedCount: Int
    }

    public struct TableState: Sendable, Hashable, Codable {
        public var name: String
        public var rows: Int
        public var hash: String
    }

    /// A model's hash as of a position, and its tables'.
    public struct ModelState: Sendable, Hashable, Codable {
        public var projection: String
        public var position: Int64
        public var hash: String
        public var tables: [TableState]
    }

    /// Live against a rebuild at live's checkpoint: like with like.
    public struct Comparison: Sendable, Hashable {
        public var live: ModelState
        public var rebuilt: ModelState
        public var differences: [TableDifference]
        public var isIdentical: Bool { differences.isEmpty && live.hash == rebuilt.hash }
    }

    public struct Report: Sendable, Hashable, CustomStringConvertible {
        public var projection: String
        /// The log's head in the snapshot read.
        public var head: Int64
        public var liveCheckpoint: Int64
        /// The rebuild asked for (into `schema`, or temporary), as of its position.
        public var materialized: ModelState
        public var schema: String?
        public var eventsApplied: Int
        public var comparison: Comparison?

        public var replayedUntil: Int64 { materialized.position }
        public var differences: [TableDifference] { comparison?.differences ?? [] }
        public var isIdentical: Bool { comparison?.isIdentical ?? true }

        public var description: String {
            var lines = [
                "projection \(projection): rebuilt from \(eventsApplied) events up to position \(materialized.position)"
                    + (schema.map { " into schema \($0)" } ?? "") + "; hash \(materialized.hash)"
            ]
            if let schema {
                for table in materialized.tables { lines.append("  \(schema).\(table.name): \(table.rows) rows, hash \(table.hash)") }
            }
            guard let comparison else { return lines.joined(separator: "\n") }
            if materialized.position != liveCheckpoint {
                lines.append(
                    "the live model is at position \(liveCheckpoint), not \(materialized.position): compared it with a rebuild as of \(liveCheckpoint)"
                )
            }
            lines.append(
                "live model at position \(liveCheckpoint): hash \(comparison.live.hash); rebuild as of \(liveCheckpoint): hash \(comparison.rebuilt.hash)"
            )
            if comparison.isIdentical {
                lines.append("identical")
            } else {
                for difference in comparison.differences {
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

    public enum ReplayError: Error, CustomStringConvertible {
        case pastHead(Int64, head: Int64)
        case badSchemaName(String)
        case schemaExists(String)
        case notAReplaySchema(String)
        case cannotCreateSchema(String, reason: String)
        case unknownTable(String, known: [String])

        public var description: String {
            switch self {
            case .pastHead(let position, let head):
                "position \(position) is past the log's head (\(head)); choose a position up to \(head)"
            case .badSchemaName(let name):
                "\"\(name)\" cannot be a replay schema: use lower-case letters, digits and _ (at most 63, not starting with a digit, not pg_…, public or information_schema)"
            case .schemaExists(let name):
                "schema \(name) already exists; drop it first (streamd events replay --drop \(name)) or choose another name"
            case .notAReplaySchema(let name):
                "schema \(name) was not made by streamd events replay (it has no streamd_replay table); not dropping it"
            case .cannotCreateSchema(let name, let reason):
                "cannot create schema \(name): \(reason); run as a role that may create schemas (the owner's URL as --database-owner-url, or the embedded cluster's default)"
            case .unknownTable(let table, let known):
                "no table \"\(table)\" in this model; its tables: \(known.joined(separator: ", "))"
            }
        }
    }

    let store: EventStore
    let projection: any SQLProjection

    public init(store: EventStore, projection: any SQLProjection) {
        self.store = store
        self.projection = projection
    }

    /// Rebuild as of `until` (default: live's checkpoint) and compare live with a rebuild at its
    /// checkpoint.
    public func run(until: Int64? = nil) async throws -> Report {
        try await run(asOf: until, into: nil, diff: true)
    }

    /// Rebuilds the model as of `asOf` (default: live's checkpoint; at most the log's head), into
    /// `schema` when given (created, kept until `drop`), else into temporary tables; with `diff`,
    /// also compares live with a rebuild at live's checkpoint (the one just made when `asOf` is it).
    public func run(asOf: Int64?, into schema: String?, diff: Bool) async throws -> Report {
        if let schema { try Self.validate(schema) }
        let logger = store.logger
        return try await withSnapshot(owner: schema != nil) { connection in
            let head = try await Self.head(connection, logger: logger)
            let live = try await Self.checkpoint(projection.name, connection, logger: logger)
            let position = asOf ?? live
            guard position <= head else { throw ReplayError.pastHead(position, head: head) }
            let target: String
            if let schema {
                try await create(schema: schema, on: connection)
                target = Self.quoted(schema)
            } else {
                try await createTables(in: "pg_temp", on: connection, temporary: true)
                target = "pg_temp"
            }
            let applied = try await rebuild(into: target, until: position, on: connection)
            let materialized = try await state(in: target, position: position, on: connection)
            if let schema {
                try await connection.query(
                    """
                    INSERT INTO \(unescaped: Self.quoted(schema)).streamd_replay (projection, as_of, head, hash, made_at)
                    VALUES (\(projection.name), \(position), \(head), \(materialized.hash), now())
                    """, logger: logger)
                if let role = grantee {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "GRANT USAGE ON SCHEMA \(target) TO \(Self.quoted(role))"), logger: logger)
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "GRANT SELECT ON ALL TABLES IN SCHEMA \(target) TO \(Self.quoted(role))"), logger: logger)
                }
            }
            var comparison: Comparison?
            if diff {
                var rebuilt = materialized
                var rebuiltIn = target
                if position != live {
                    rebuiltIn = "pg_temp"
                    if schema == nil {
                        for table in projection.tables {
                            try await connection.query(PostgresQuery(unsafeSQL: "TRUNCATE pg_temp.\(table)"), logger: logger)
                        }
                    } else {
                        try await createTables(in: "pg_temp", on: connection, temporary: true)
                    }
                    _ = try await rebuild(into: "pg_temp", until: live, on: connection)
                    rebuilt = try await state(in: "pg_temp", position: live, on: connection)
                }
                let liveState = try await state(in: "public", position: live, on: connection)
                comparison = Comparison(
                    live: liveState, rebuilt: rebuilt,
                    differences: try await differences(live: "public", rebuilt: rebuiltIn, on: connection))
            }
            return Report(
                projection: projection.name, head: head, liveCheckpoint: live, materialized: materialized, schema: schema,
                eventsApplied: applied, comparison: comparison)
        }
    }

    /// The live model's hash at its checkpoint, in one snapshot.
    public func live() async throws -> ModelState {
        let logger = store.logger
        return try await withSnapshot(owner: false) { connection in
            let live = try await Self.checkpoint(projection.name, connection, logger: logger)
            return try await state(in: "public", position: live, on: connection)
        }
    }

    /// The model rebuilt as of `asOf` (in temporary tables), with a page of one table's rows (as
    /// `row_to_json` text, in hash order): `GET /v1/audit/projections/P?asOf=N`.
    public func page(
        asOf: Int64, table: String?, offset: Int, limit: Int
    ) async throws -> (state: ModelState, table: String, rows: [String]) {
        let table = table ?? projection.tables[0]
        guard projection.tables.contains(table) else { throw ReplayError.unknownTable(table, known: projection.tables) }
        let logger = store.logger
        return try await withSnapshot(owner: false) { connection in
            let head = try await Self.head(connection, logger: logger)
            guard asOf <= head else { throw ReplayError.pastHead(asOf, head: head) }
            try await createTables(in: "pg_temp", on: connection, temporary: true)
            _ = try await rebuild(into: "pg_temp", until: asOf, on: connection)
            let state = try await state(in: "pg_temp", position: asOf, on: connection)
            var rows: [String] = []
            let query = PostgresQuery(
                unsafeSQL: """
                    SELECT r FROM (SELECT row_to_json(t)::text AS r FROM pg_temp.\(table) t) s ORDER BY r COLLATE "C"
                    OFFSET \(max(0, offset)) LIMIT \(max(1, limit))
                    """)
            for try await row in try await connection.query(query, logger: logger).decode(String.self) { rows.append(row) }
            return (state, table, rows)
        }
    }

    /// Drops a schema `run(into:)` made (and only such a schema).
    public static func drop(schema: String, store: EventStore) async throws {
        try validate(schema)
        let replay = ProjectionReplay(store: store, projection: NoProjection())
        try await replay.withConnection(owner: true) { connection in
            let rows = try await connection.query(
                "SELECT to_regclass(\(quoted(schema) + ".streamd_replay")) IS NOT NULL", logger: store.logger)
            var ours = false
            for try await exists in rows.decode(Bool.self) { ours = exists }
            guard ours else { throw ReplayError.notAReplaySchema(schema) }
            try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(quoted(schema)) CASCADE"), logger: store.logger)
        }
    }

    /// The schemas `run(into:)` made and what each holds.
    public static func schemas(store: EventStore) async throws -> [(schema: String, projection: String, asOf: Int64, hash: String)] {
        var result: [(schema: String, projection: String, asOf: Int64, hash: String)] = []
        let names = try await store.client.query(
            "SELECT table_schema::text FROM information_schema.tables WHERE table_name = 'streamd_replay' ORDER BY 1", logger: store.logger)
        var schemas: [String] = []
        for try await name in names.decode(String.self) { schemas.append(name) }
        for schema in schemas {
            let rows = try await store.client.query(
                PostgresQuery(unsafeSQL: "SELECT projection, as_of, hash FROM \(quoted(schema)).streamd_replay"), logger: store.logger)
            for try await (projection, asOf, hash) in rows.decode((String, Int64, String).self) {
                result.append((schema: schema, projection: projection, asOf: asOf, hash: hash))
            }
        }
        return result
    }

    // MARK: Steps

    private func rebuild(into target: String, until limit: Int64, on connection: PostgresConnection) async throws -> Int {
        let (logger, registry, projection) = (store.logger, store.registry, projection)
        try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL search_path TO \(target), public"), logger: logger)
        var position: Int64 = 0
        var applied = 0
        while position < limit {
            let page = try await EventStore.read(after: position, limit: 1_000, filter: projection.filter, on: connection, logger: logger)
                .filter { $0.position <= limit }
            if page.isEmpty { break }
            for event in page {
                try await projection.apply(event, registry: registry, connection: connection, logger: logger)
            }
            applied += page.count
            position = page[page.count - 1].position
        }
        try await connection.query("SET LOCAL search_path TO public", logger: logger)
        return applied
    }

    private func state(in schema: String, position: Int64, on connection: PostgresConnection) async throws -> ModelState {
        var tables: [TableState] = []
        for table in projection.tables {
            let (hash, rows) = try await ReadModelHash.table("\(schema).\(table)", on: connection, logger: store.logger)
            tables.append(TableState(name: table, rows: rows, hash: hash))
        }
        return ModelState(
            projection: projection.name, position: position, hash: ReadModelHash.combine(tables.map { ($0.name, $0.hash) }), tables: tables)
    }

    private func differences(live: String, rebuilt: String, on connection: PostgresConnection) async throws -> [TableDifference] {
        var differences: [TableDifference] = []
        for table in projection.tables {
            func json(_ schema: String) -> String { "SELECT row_to_json(t)::text AS r FROM \(schema).\(table) t" }
            let onlyLive = try await rows(connection, "\(json(live)) EXCEPT ALL \(json(rebuilt))")
            let onlyReplayed = try await rows(connection, "\(json(rebuilt)) EXCEPT ALL \(json(live))")
            if onlyLive.count > 0 || onlyReplayed.count > 0 {
                differences.append(
                    TableDifference(
                        table: table, onlyLive: Array(onlyLive.prefix(5)), onlyReplayed: Array(onlyReplayed.prefix(5)),
                        onlyLiveCount: onlyLive.count, onlyReplayedCount: onlyReplayed.count))
            }
        }
        return differences
    }

    private func rows(_ connection: PostgresConnection, _ query: String) async throws -> [String] {
        var result: [String] = []
        for try await row in try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT r FROM (\(query)) d ORDER BY r"), logger: store.logger
        )
        .decode(String.self) {
            result.append(row)
        }
        return result
    }

    private func createTables(in schema: String, on connection: PostgresConnection, temporary: Bool) async throws {
        for table in projection.tables {
            let sql =
                temporary
                ? "CREATE TEMPORARY TABLE \(table) (LIKE public.\(table) INCLUDING ALL) ON COMMIT DROP"
                : "CREATE TABLE \(schema).\(table) (LIKE public.\(table) INCLUDING ALL)"
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: store.logger)
        }
    }

    private func create(schema: String, on connection: PostgresConnection) async throws {
        let logger = store.logger
        var exists = false
        for try await _ in try await connection.query("SELECT 1 FROM pg_namespace WHERE nspname = \(schema)", logger: logger) {
            exists = true
        }
        guard !exists else { throw ReplayError.schemaExists(schema) }
        do {
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA \(Self.quoted(schema))"), logger: logger)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "42501" {
            throw ReplayError.cannotCreateSchema(schema, reason: error.serverInfo?[.message] ?? "permission denied")
        }
        try await createTables(in: Self.quoted(schema), on: connection, temporary: false)
        try await connection.query(
            PostgresQuery(
                unsafeSQL: """
                    CREATE TABLE \(Self.quoted(schema)).streamd_replay (
                        projection text NOT NULL, as_of bigint NOT NULL, head bigint NOT NULL, hash text NOT NULL, made_at timestamptz NOT NULL)
                    """), logger: logger)
    }

    // MARK: Connections

    /// The store's role, when a schema made as the owner must be readable by it.
    private var grantee: String? {
        guard let owner = store.options.ownerURL, owner.username != store.url.username else { return nil }
        return store.url.username
    }

    /// Runs `body` in one REPEATABLE READ transaction, with the session settings the hashes
    /// assume. `owner`: as the schema's owner when the store knows it (creating a schema needs it).
    private func withSnapshot<T: Sendable>(
        owner: Bool, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = store.logger
        return try await withConnection(owner: owner) { connection in
            try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: logger)
            do {
                try await connection.query("SET LOCAL TimeZone TO 'UTC'", logger: logger)
                try await connection.query("SET LOCAL extra_float_digits TO 1", logger: logger)
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    private func withConnection<T: Sendable>(
        owner: Bool, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        if owner, let url = store.options.ownerURL, url.username != store.url.username {
            return try await store.withOwnerConnection(body)
        }
        return try await store.client.withConnection { connection in try await body(connection) }
    }

    static func head(_ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for try await position in try await connection.query("SELECT position FROM event_log_head", logger: logger).decode(Int64.self) {
            return position
        }
        return 0
    }

    static func checkpoint(_ name: String, _ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for try await position in try await connection.query(
            "SELECT position FROM projection_checkpoints WHERE name = \(name)", logger: logger
        ).decode(Int64.self) {
            return position
        }
        return 0
    }

    static func validate(_ schema: String) throws {
        let allowed = schema.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F }
        guard allowed, (1...63).contains(schema.utf8.count), let first = schema.utf8.first, !(0x30...0x39).contains(first),
            !schema.hasPrefix("pg_"), !["public", "information_schema"].contains(schema)
        else { throw ReplayError.badSchemaName(schema) }
    }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private struct NoProjection: SQLProjection {
        let name = ""
        let tables: [String] = []
        let filter = EventFilter()
        func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {}
    }
}
