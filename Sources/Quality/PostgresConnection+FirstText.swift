import Logging
import PostgresNIO

extension PostgresConnection {
    /// The first row's one text column, or nil when the query returns no row (the projections read
    /// their JSON records and channel settings this way).
    func firstText(_ query: PostgresQuery, logger: Logger) async throws -> String? {
        for try await text in try await self.query(query, logger: logger).decode(String.self) { return text }
        return nil
    }
}
