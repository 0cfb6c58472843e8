import Foundation
import Logging
import PostgresNIO

/// A few connections of our own for the log's hot paths (group commit, catch-up reads), where a
/// dead connection must be noticed and replaced at once: a connection that failed is dropped and
/// the next use connects afresh, and every use has a deadline, because across a PostgreSQL
/// restart PostgresNIO has been seen to leave a query waiting forever.
actor ConnectionSet {
    private let url: DatabaseURL
    private let logger: Logger
    private let keep: Int
    private var idle: [PostgresConnection] = []
    private var nextId = 1_000
    /// Set by `closeAll`: a connection in use then is closed when it comes back, and none is
    /// opened afterwards (one left idle would be freed unclosed, which PostgresNIO traps on).
    private var closed = false

    init(url: DatabaseURL, keep: Int, logger: Logger) {
        self.url = url
        self.keep = keep
        self.logger = logger
    }

    func with<T: Sendable>(deadline: Duration = .seconds(10), _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await take()
        do {
            let result = try await withDeadline(deadline, onTimeout: { try? await connection.close() }) {
                try await body(connection)
            }
            giveBack(connection)
            return result
        } catch {
            if AppendBatcher.isConnectionFailure(error) {
                Task { try? await connection.close() }
            } else {
                giveBack(connection)
            }
            throw error
        }
    }

    private func take() async throws -> PostgresConnection {
        guard !closed else { throw EventStoreError.unavailable("the event store was shut down") }
        while let connection = idle.popLast() {
            if !connection.isClosed { return connection }
        }
        nextId += 1
        return try await PostgresConnection.connect(configuration: try url.connectionConfiguration(), id: nextId, logger: logger)
    }

    private func giveBack(_ connection: PostgresConnection) {
        if !closed, idle.count < keep, !connection.isClosed { idle.append(connection) } else { Task { try? await connection.close() } }
    }

    func closeAll() async {
        closed = true
        let connections = idle
        idle.removeAll()
        for connection in connections { try? await connection.close() }
    }
}
