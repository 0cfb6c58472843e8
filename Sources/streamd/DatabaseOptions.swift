import ArgumentParser
import EventStore
import Foundation
import Logging

/// `--data-dir` and `--database-url`, shared by every command that touches the database.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Folder for streamd's state: the embedded PostgreSQL, the admin token, media. (env STREAMD_DATA_DIR, default .streamd)", valueName: "path"))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp("PostgreSQL URL (postgres://user:password@host:port/db); without it streamd starts its own cluster in the data folder. (env STREAMD_DATABASE_URL)", valueName: "url"))
    var databaseUrl: String?

    var dataDirectory: URL {
        URL(fileURLWithPath: dataDir ?? Environment.string("DATA_DIR") ?? ".streamd").standardizedFileURL
    }

    /// Opens the event store, starting the embedded cluster when no URL is given and it is not
    /// running. `close` stops only what this call started.
    func open(logger: Logger, options: EventStore.Options = EventStore.Options()) async throws -> OpenDatabase {
        var cluster: EmbeddedPostgres?
        let url: DatabaseURL
        if let text = databaseUrl ?? Environment.string("DATABASE_URL") {
            url = try DatabaseURL(text)
        } else {
            let embedded = try EmbeddedPostgres(dataDirectory: dataDirectory, logger: logger)
            let started = try embedded.start()
            if started.startedHere { cluster = embedded }
            try await embedded.ensureDatabase(url: started.url, logger: logger)
            url = started.url
        }
        do {
            let store = try await EventStore.open(url: url, registry: Registry.all, options: options, logger: logger)
            return OpenDatabase(store: store, cluster: cluster)
        } catch {
            cluster?.stop()
            throw error
        }
    }
}

struct OpenDatabase {
    let store: EventStore
    /// Set when this process started the embedded cluster and must stop it.
    let cluster: EmbeddedPostgres?

    func close() async {
        await store.shutdown()
        cluster?.stop()
    }
}

enum Environment {
    static func string(_ name: String) -> String? {
        guard let value = ProcessInfo.processInfo.environment["STREAMD_\(name)"], !value.isEmpty else { return nil }
        return value
    }

    static func int(_ name: String) throws -> Int? {
        guard let text = string(name) else { return nil }
        guard let value = Int(text) else { throw ValidationError("STREAMD_\(name) must be a whole number, not \"\(text)\"") }
        return value
    }

    static func double(_ name: String) throws -> Double? {
        guard let text = string(name) else { return nil }
        guard let value = Double(text), value.isFinite else { throw ValidationError("STREAMD_\(name) must be a number, not \"\(text)\"") }
        return value
    }

    static func bool(_ name: String) throws -> Bool? {
        guard let text = string(name) else { return nil }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("STREAMD_\(name) must be true or false, not \"\(text)\"")
        }
    }
}

func makeLogger(_ label: String = "streamd", level: Logger.Level? = nil) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = level ?? Environment.string("LOG_LEVEL").flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}

/// Runs a command body against the database and always closes it, printing errors the way a
/// person can act on.
func withDatabase<T>(_ options: DatabaseOptions, logLevel: Logger.Level = .warning, _ body: (EventStore) async throws -> T) async throws -> T {
    let database = try await options.open(logger: makeLogger(level: logLevel))
    do {
        let result = try await body(database.store)
        await database.close()
        return result
    } catch {
        await database.close()
        throw error
    }
}
