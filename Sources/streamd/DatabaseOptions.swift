import ArgumentParser
import Foundation
import Logging
import Node

/// `--data-dir`, `--database-url` and `--database-owner-url`, shared by every command that touches
/// the database.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Folder for streamd's state: the embedded PostgreSQL, the admin token, media. (env STREAMD_DATA_DIR, default .streamd)",
            valueName: "path"))
    var dataDir: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "PostgreSQL URL (postgres://user:password@host:port/db); without it streamd starts its own cluster in the data folder. (env STREAMD_DATABASE_URL)",
            valueName: "url"))
    var databaseUrl: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "With --database-url: the schema owner's URL, for migrations; --database-url is then the application's role, which cannot edit the log. (env STREAMD_DATABASE_OWNER_URL, default the --database-url)",
            valueName: "url"))
    var databaseOwnerUrl: String?

    var dataDirectory: URL {
        URL(fileURLWithPath: dataDir ?? Environment.string("DATA_DIR") ?? ".streamd").standardizedFileURL
    }

    /// Opens the event store, starting the embedded cluster when no URL is given and it is not
    /// running. `close` stops only what this call started. `warnIfPrivileged` (serve): a log line
    /// when the URL's role could rewrite the log; a command's output stays its own.
    func open(
        logger: Logger, options: EventStore.Options = EventStore.Options(), waitForDatabase: Bool = false,
        warnIfPrivileged: Bool = true
    ) async throws -> NodeDatabase {
        let url = databaseUrl ?? Environment.string("DATABASE_URL")
        let owner = databaseOwnerUrl ?? Environment.string("DATABASE_OWNER_URL")
        if owner != nil, url == nil {
            throw ValidationError(
                "--database-owner-url needs --database-url beside it (the application's role); the embedded cluster makes its own roles")
        }
        return try await NodeDatabase.open(
            url: url, ownerURL: owner, dataDirectory: dataDirectory, options: options, waitForDatabase: waitForDatabase,
            warnIfPrivileged: warnIfPrivileged, logger: logger)
    }
}

func makeLogger(_ label: String = "streamd", level: Logger.Level? = nil) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = level ?? Environment.string("LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}

/// Runs a command body against the database and always closes it, printing errors the way a
/// person can act on.
func withDatabase<T>(
    _ options: DatabaseOptions, logLevel: Logger.Level = .warning, _ body: (EventStore) async throws -> T
) async throws -> T {
    let database = try await options.open(logger: makeLogger(level: logLevel), warnIfPrivileged: false)
    do {
        let result = try await body(database.store)
        await database.close()
        return result
    } catch {
        await database.close()
        throw error
    }
}
