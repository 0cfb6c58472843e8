import Crypto
import Foundation
import Logging
import PostgresNIO

/// streamd's own roles in its cluster (docs/event-log.md#database-roles): `streamd_owner` owns the
/// schema and runs the migrations; `streamd_app` is what `serve` and the CLI connect as, and may
/// read and append the log but never edit it (`ApplicationRole`). Their passwords are secrets in
/// the data folder. The superuser made by initdb is used only here, at start, to set them up.
extension EmbeddedPostgres {
    public static let ownerRole = "streamd_owner"
    public static let applicationRole = "streamd_app"

    var ownerPasswordFile: URL { dataDirectory.appendingPathComponent("postgres-owner.password") }
    var applicationPasswordFile: URL { dataDirectory.appendingPathComponent("postgres-app.password") }

    /// Makes the database and both roles, or brings them up to date, through the superuser's
    /// `admin` URL; idempotent, run at every start. A cluster an earlier streamd made, whose
    /// tables the superuser owns, is handed to the owner here. Returns the URLs to connect with.
    public func prepareRoles(admin: DatabaseURL, logger: Logger) async throws -> (owner: DatabaseURL, application: DatabaseURL) {
        let owner = DatabaseURL(
            host: admin.host, port: admin.port, username: Self.ownerRole, password: try loadOrCreatePassword(ownerPasswordFile),
            database: database)
        let application = DatabaseURL(
            host: admin.host, port: admin.port, username: Self.applicationRole,
            password: try loadOrCreatePassword(applicationPasswordFile), database: database)
        let (ownerName, applicationName) = (ApplicationRole.quoted(Self.ownerRole), ApplicationRole.quoted(Self.applicationRole))
        do {
            try await withConnection(admin.with(database: "postgres"), logger: logger) { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    // Roles belong to the cluster: one setter at a time (a CLI command beside `serve`).
                    try await connection.query("SELECT pg_advisory_xact_lock(1937011301)", logger: logger)
                    for role in [owner, application] {
                        try await connection.query(
                            PostgresQuery(
                                unsafeSQL: """
                                    DO $$ BEGIN
                                        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = \(Self.literal(role.username))) THEN
                                            CREATE ROLE \(ApplicationRole.quoted(role.username));
                                        END IF;
                                    END $$
                                    """), logger: logger)
                        // The password files are the truth: one lost is made anew and set here.
                        try await connection.query(
                            PostgresQuery(
                                unsafeSQL: """
                                    ALTER ROLE \(ApplicationRole.quoted(role.username)) WITH LOGIN NOSUPERUSER NOCREATEDB \
                                    NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD \(Self.literal(Self.scramVerifier(role.password ?? "")))
                                    """), logger: logger)
                    }
                }
                var exists = false
                for try await _ in try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(database)", logger: logger) {
                    exists = true
                }
                let name = ApplicationRole.quoted(database)
                if !exists {
                    try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) OWNER \(ownerName)"), logger: logger)
                }
                try await connection.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) OWNER TO \(ownerName)"), logger: logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "GRANT CONNECT, TEMPORARY ON DATABASE \(name) TO \(applicationName)"), logger: logger)
            }
            try await withConnection(admin.with(database: database), logger: logger) { connection in
                try await connection.withTransaction(logger: logger) { connection in
                    try await connection.query(PostgresQuery(unsafeSQL: "ALTER SCHEMA public OWNER TO \(ownerName)"), logger: logger)
                    // PostgreSQL before 15 let anyone create tables in `public`.
                    try await connection.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC", logger: logger)
                    try await connection.query(PostgresQuery(unsafeSQL: Self.handOver(to: Self.ownerRole)), logger: logger)
                }
            }
        } catch let error as PostgresTransactionError {
            throw EventStoreError.database(
                "cannot set up streamd's roles in \(clusterDirectory.path): \(AppendBatcher.describe(error.closureError ?? error))")
        } catch let error as PSQLError {
            throw EventStoreError.database("cannot set up streamd's roles in \(clusterDirectory.path): \(AppendBatcher.describe(error))")
        }
        return (owner, application)
    }

    /// Gives `owner` what in `public` is someone else's: every table, view, free-standing
    /// sequence, function and aggregate (indexes, triggers and a column's sequence follow their
    /// table). Nothing to do on a cluster this version made.
    static func handOver(to owner: String) -> String {
        """
        DO $$
        DECLARE
            target oid := \(literal(owner))::regrole;
            item record;
        BEGIN
            FOR item IN
                SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.relowner <> target
            LOOP
                EXECUTE format('ALTER %s %s OWNER TO %I',
                    CASE item.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
                    item.name, \(literal(owner)));
            END LOOP;
            FOR item IN
                SELECT c.oid::regclass AS name FROM pg_class c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' AND c.relowner <> target
                  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
            LOOP
                EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', item.name, \(literal(owner)));
            END LOOP;
            FOR item IN
                SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p
                WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> target
            LOOP
                EXECUTE format('ALTER %s %s OWNER TO %I',
                    CASE item.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, item.name, \(literal(owner)));
            END LOOP;
        END $$
        """
    }

    /// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 7677), made
    /// here so the statement that sets it never carries the password itself: a failed statement
    /// is written whole into the server's log.
    static func scramVerifier(_ password: String, salt: [UInt8] = (0..<16).map { _ in UInt8.random(in: 0...255) }) -> String {
        let iterations = 4_096
        let key = SymmetricKey(data: Array(password.utf8))
        // PBKDF2-HMAC-SHA-256 with one block: SCRAM's Hi().
        var block = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var salted = block
        for _ in 1..<iterations {
            block = Array(HMAC<SHA256>.authenticationCode(for: block, using: key))
            for index in salted.indices { salted[index] ^= block[index] }
        }
        let saltedKey = SymmetricKey(data: salted)
        let clientKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Client Key".utf8), using: saltedKey))
        let storedKey = Array(SHA256.hash(data: clientKey))
        let serverKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Server Key".utf8), using: saltedKey))
        func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
        return "SCRAM-SHA-256$\(iterations):\(base64(salt))$\(base64(storedKey)):\(base64(serverKey))"
    }

    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }

    private func withConnection(
        _ url: DatabaseURL, logger: Logger, _ body: (PostgresConnection) async throws -> Void
    ) async throws {
        let connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: 0, logger: logger)
        do {
            try await body(connection)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
