import Crypto
import Foundation
import Logging
import PostgresNIO

/// Applies `migrations/NNNN_name.sql` in order, each recorded with a SHA-256 checksum, all inside
/// one transaction under an advisory lock so concurrent start-ups (several nodes, tests) agree.
/// Run as the schema's owner; with `granting`, it then gives that application role what
/// `ApplicationRole` lists, so tables a new migration adds are the application's to use at once.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Hashable {
        public var version: Int
        public var name: String
        public var sql: String
        public var checksum: String {
            SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
        }
    }

    public var migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// The migrations shipped with this build.
    public static func bundled() throws -> Migrator {
        guard let folder = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw EventStoreError.migration("the migrations folder is missing from streamd's resources; rebuild streamd")
        }
        return try Migrator(folder: folder)
    }

    public init(folder: URL) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for name in names {
            guard let version = Int(name.prefix { $0.isNumber }), name.first?.isNumber == true else {
                throw EventStoreError.migration("migration file \(name) must be named NNNN_description.sql")
            }
            let sql = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            if let clash = migrations.first(where: { $0.version == version }) {
                throw EventStoreError.migration("migrations \(clash.name) and \(name) share version \(version)")
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        self.init(migrations: migrations)
    }

    /// Returns the names of the migrations applied now.
    @discardableResult
    public func migrate(_ client: PostgresClient, granting application: String? = nil, logger: Logger) async throws -> [String] {
        try await client.withConnection { connection in
            try await migrate(connection, granting: application, logger: logger)
        }
    }

    @discardableResult
    public func migrate(_ connection: PostgresConnection, granting application: String? = nil, logger: Logger) async throws -> [String] {
        let migrations = self.migrations
        var current: String?
        do {
            return try await connection.withTransaction(logger: logger) { connection in
                // 0x73747264 = "strd": one lock id for every streamd process on this database.
                try await connection.query("SELECT pg_advisory_xact_lock(1937011300)", logger: logger)
                // Unqualified names in the migrations mean `public`, whatever schemas others made.
                try await connection.query("SET LOCAL search_path TO public", logger: logger)
                // Only when missing: an application role with nothing to apply must not need CREATE.
                var recorded = false
                for try await exists in try await connection.query(
                    "SELECT to_regclass('public.schema_migrations') IS NOT NULL", logger: logger
                ).decode(Bool.self) {
                    recorded = exists
                }
                if !recorded {
                    current = "schema_migrations"
                    try await connection.query(
                        """
                        CREATE TABLE schema_migrations (
                            version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                            applied_at timestamptz NOT NULL DEFAULT now())
                        """, logger: logger)
                }
                var applied: [Int: (String, String)] = [:]
                for try await (version, name, checksum) in try await connection.query(
                    "SELECT version, name, checksum FROM schema_migrations", logger: logger
                ).decode((Int, String, String).self) {
                    applied[version] = (name, checksum)
                }
                var done: [String] = []
                for migration in migrations {
                    if let (name, checksum) = applied[migration.version] {
                        guard checksum == migration.checksum else {
                            throw EventStoreError.migration(
                                """
                                migration \(migration.name) was changed after it was applied as \(name) \
                                (checksum now \(migration.checksum.prefix(12))…, recorded \(checksum.prefix(12))…); \
                                restore the original file and put the change in a new migration
                                """)
                        }
                        continue
                    }
                    current = migration.name
                    for statement in SQLScript.statements(migration.sql) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))",
                        logger: logger)
                    logger.info("applied migration", metadata: ["migration": "\(migration.name)"])
                    done.append(migration.name)
                }
                if let application {
                    current = "the grants to \(application)"
                    for statement in ApplicationRole.grants(to: application) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                }
                return done
            }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? EventStoreError { throw inner }
            if let refused = error.closureError as? PSQLError, refused.serverInfo?[.sqlState] == "42501" {
                throw EventStoreError.migration(
                    """
                    \(current ?? "a migration") needs the schema's owner, and this role may not: \
                    \(AppendBatcher.describe(refused)); give the owner's URL as --database-owner-url \
                    (docs/event-log.md#database-roles)
                    """)
            }
            throw EventStoreError.migration("migrations failed: \(String(reflecting: error.closureError ?? error))")
        }
    }
}
