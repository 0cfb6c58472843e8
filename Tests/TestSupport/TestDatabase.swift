import EventStore
import Foundation
import Logging
import PostgresNIO

/// A real PostgreSQL for tests: the server named by `STREAMD_TEST_DATABASE_URL` (ops/test starts a
/// throwaway one), else a throwaway embedded cluster for this test process, stopped at exit.
/// Every test gets a database of its own, so tests run in parallel without seeing each other.
public enum TestDatabase {
    public static let logger: Logger = {
        var logger = Logger(label: "streamd.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["STREAMD_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .error
        return logger
    }()

    private static let server: Result<DatabaseURL, any Error> = {
        if let text = ProcessInfo.processInfo.environment["STREAMD_TEST_DATABASE_URL"] {
            return Result { try DatabaseURL(text) }
        }
        return Result {
            let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("streamd-tests-\(getpid())")
            let cluster = try EmbeddedPostgres(dataDirectory: directory, database: "postgres", durable: false, logger: logger)
            let (url, _) = try cluster.start()
            clusterToStop = cluster
            atexit {
                TestDatabase.clusterToStop?.stop()
                if let directory = TestDatabase.clusterToStop?.dataDirectory { try? FileManager.default.removeItem(at: directory) }
            }
            return url
        }
    }()

    /// Written once inside `server`'s lazy initialiser (run at most once) and read by the atexit
    /// handler, which cannot capture context; hence unsafe but race-free.
    nonisolated(unsafe) static var clusterToStop: EmbeddedPostgres?

    /// The server's URL on its maintenance database.
    public static func serverURL() throws -> DatabaseURL { try server.get().with(database: "postgres") }

    /// A new, empty database on the test server.
    public static func freshDatabase(_ label: String = "t") async throws -> DatabaseURL {
        let base = try serverURL()
        let name = "\(label.lowercased().filter { $0.isLetter || $0.isNumber })_\(UUID().uuidString.prefix(8).lowercased())"
        let connection = try await PostgresConnection.connect(configuration: try base.connectionConfiguration(), id: 1, logger: logger)
        defer { Task { try? await connection.close() } }
        try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
        return base.with(database: name)
    }

    /// An event store on a fresh database, migrated.
    public static func makeStore(
        _ label: String = "t", registry: EventRegistry = EventRegistry(), options: EventStore.Options = EventStore.Options()
    ) async throws -> EventStore {
        try await EventStore.open(url: try await freshDatabase(label), registry: registry, options: options, logger: logger)
    }
}
