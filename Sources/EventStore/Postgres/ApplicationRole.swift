import Logging
import PostgresNIO

/// What the role `serve` and the CLI connect as may do in the schema (docs/event-log.md#database-roles):
/// read and append the log, never edit it. It is not the tables' owner, so it can neither
/// `ALTER TABLE events` nor disable the append-only triggers, and it holds no UPDATE, DELETE or
/// TRUNCATE on `events`. Read models, checkpoints and the log's head row are its to write; USAGE
/// on `public`, LISTEN, NOTIFY, advisory locks and a replay's temporary tables come with PUBLIC's
/// defaults.
public enum ApplicationRole {
    /// Statements the schema's owner runs after its migrations (idempotent).
    static func grants(to role: String) -> [String] {
        let role = quoted(role)
        return [
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \(role)",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \(role)",
            "REVOKE ALL ON events, event_log_head, schema_migrations FROM \(role)",
            "GRANT SELECT, INSERT ON events TO \(role)",
            // The append function, run with the caller's rights, locks and moves the head.
            "GRANT SELECT, UPDATE ON event_log_head TO \(role)",
            "GRANT SELECT ON schema_migrations TO \(role)",
        ]
    }

    /// The connected role's name when it could rewrite history: it may UPDATE `events`, or it
    /// owns the table (or may act as its owner) and so could drop the triggers; nil otherwise.
    static func rewriter(on connection: PostgresConnection, logger: Logger) async throws -> String? {
        let rows = try await connection.query(
            """
            SELECT current_user::text,
                   has_table_privilege('public.events', 'UPDATE') OR pg_has_role(c.relowner, 'MEMBER')
            FROM pg_class c WHERE c.oid = to_regclass('public.events')
            """, logger: logger)
        for try await (role, can) in rows.decode((String, Bool).self) { return can ? role : nil }
        return nil
    }

    static func quoted(_ identifier: String) -> String {
        "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
