import Foundation
import Logging
import PostgresNIO

/// A read model kept in PostgreSQL. Its tables are created by a migration in `public`; `apply`
/// uses unqualified table names, so a replay can rebuild the same model into temporary tables by
/// putting `pg_temp` first on the search path.
///
/// `apply` must be a function of the event alone (use `recordedAt`, never `now()`), or a replay
/// could not reproduce it.
public protocol SQLProjection: Sendable {
    var name: String { get }
    var tables: [String] { get }
    var filter: EventFilter { get }
    func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws
}

/// A read model kept in memory, rebuilt from the log at every start.
public protocol InMemoryProjection: AnyObject, Sendable {
    var filter: EventFilter { get }
    func apply(_ event: RecordedEvent) async
}
