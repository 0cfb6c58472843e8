import Logging
import PostgresNIO

/// The read models' side of the database: queries and transactions for the read-model types that
/// own those tables (channels, chat rooms, the DVR index, quality). The log itself is written only
/// through `EventStore.append`, and its connection pool is not handed out.
public struct ReadModelDatabase: Sendable {
    let client: PostgresClient
    let logger: Logger

    @discardableResult
    public func query(
        _ query: PostgresQuery, logger: Logger? = nil, file: String = #fileID, line: Int = #line
    ) async throws -> PostgresRowSequence {
        try await client.query(query, logger: logger ?? self.logger, file: file, line: line)
    }

    public func withTransaction<Result>(
        _ body: (PostgresConnection) async throws -> sending Result
    ) async throws -> sending Result {
        try await client.withTransaction(logger: logger, body)
    }

    public func withConnection<Result>(_ body: (PostgresConnection) async throws -> sending Result) async throws -> sending Result {
        try await client.withConnection(body)
    }
}
