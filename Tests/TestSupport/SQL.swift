import EventStore
import Foundation
import PostgresNIO

/// Direct SQL on a test database, for checks and for tampering as a superuser would.
public enum SQL {
    public static func execute(_ url: DatabaseURL, _ statements: String...) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: try url.connectionConfiguration(), id: 2, logger: TestDatabase.logger)
        defer { Task { try? await connection.close() } }
        for statement in statements {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: TestDatabase.logger)
        }
    }

    /// The first column of every row, as text.
    public static func column(_ url: DatabaseURL, _ sql: String) async throws -> [String] {
        let connection = try await PostgresConnection.connect(
            configuration: try url.connectionConfiguration(), id: 3, logger: TestDatabase.logger)
        defer { Task { try? await connection.close() } }
        var values: [String] = []
        for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).decode(String?.self) {
            values.append(value ?? "NULL")
        }
        return values
    }

    /// The SQLSTATE PostgreSQL refused `statement` with, or nil when it ran.
    public static func refusal(_ url: DatabaseURL, _ statement: String) async throws -> String? {
        do {
            try await execute(url, statement)
            return nil
        } catch let error as PSQLError {
            guard let state = error.serverInfo?[.sqlState] else { throw error }
            return state
        }
    }
}
