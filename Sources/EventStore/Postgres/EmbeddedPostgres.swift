import Foundation
import Logging
import PostgresNIO

/// streamd's private PostgreSQL cluster under the data folder: the embedded default when no
/// database URL is given (DESIGN.md §7).
///
/// `initdb` and `postgres` refuse to run as root, so as root the cluster belongs to the `postgres`
/// user and every command runs through `runuser`. It listens only on 127.0.0.1, on a port below
/// 32768 (the ephemeral range could steal a higher one between runs) recorded in the data folder,
/// with a generated password (mode 0600) for scram-sha-256. The superuser only administers the
/// cluster; streamd itself connects as two roles of its own (`EmbeddedPostgres+Roles.swift`).
public final class EmbeddedPostgres: Sendable {
    public let dataDirectory: URL
    public let clusterDirectory: URL
    public let durable: Bool
    private let logger: Logger
    private let binDirectory: URL
    private let runAsPostgres: Bool
    public let database: String

    public init(dataDirectory: URL, database: String = "streamd", durable: Bool = true, logger: Logger) throws {
        self.dataDirectory = dataDirectory.standardizedFileURL
        self.clusterDirectory = self.dataDirectory.appendingPathComponent("postgres")
        self.durable = durable
        self.logger = logger
        self.database = database
        self.binDirectory = try Self.findBinDirectory()
        self.runAsPostgres = geteuid() == 0
    }

    private var portFile: URL { dataDirectory.appendingPathComponent("postgres.port") }
    var passwordFile: URL { dataDirectory.appendingPathComponent("postgres.password") }
    public var logFile: URL { clusterDirectory.appendingPathComponent("server.log") }

    /// Starts the cluster (initialising it on first use) unless it already runs. Returns the
    /// superuser's URL (for administration: `prepareRoles`) and whether this call started it (the caller then stops it on exit).
    /// `keepingPort`: a restart under a running node, whose connections know the recorded port, fails
    /// rather than move to another one.
    public func start(keepingPort: Bool = false) throws -> (url: DatabaseURL, startedHere: Bool) {
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        if runAsPostgres { try checkTraversable() }
        let password = try loadOrCreatePassword(passwordFile)
        if !FileManager.default.fileExists(atPath: clusterDirectory.appendingPathComponent("PG_VERSION").path) {
            try initialise(password: password)
        }
        var port = recordedPort()
        if try isRunning() {
            guard let port else {
                throw EventStoreError.database(
                    "the embedded PostgreSQL in \(clusterDirectory.path) runs, but \(portFile.path) is missing; stop it with pg_ctl and start streamd again"
                )
            }
            return (url(port: port, password: password), false)
        }
        if keepingPort, let recorded = port, !Self.isFree(port: recorded) {
            throw EventStoreError.database(
                "port \(recorded) on 127.0.0.1 is taken by another process; the embedded PostgreSQL needs it back")
        }
        if port == nil || !Self.isFree(port: port ?? 0) {
            port = try Self.pickFreePort()
        }
        guard let port else { throw EventStoreError.database("no free TCP port below 32768 on 127.0.0.1") }
        try "\(port)\n".write(to: portFile, atomically: true, encoding: .utf8)
        var options = "-c listen_addresses=127.0.0.1 -p \(port) -c unix_socket_directories=''"
        if !durable { options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off" }
        let start = try run("pg_ctl", ["-D", clusterDirectory.path, "-l", logFile.path, "-w", "-t", "60", "-o", options, "start"])
        guard start.status == 0 else {
            let tail = (try? String(contentsOf: logFile, encoding: .utf8))?.split(separator: "\n").suffix(8).joined(separator: "\n") ?? ""
            throw EventStoreError.database("the embedded PostgreSQL did not start: \(start.output)\n\(tail)")
        }
        logger.info("embedded PostgreSQL started", metadata: ["port": "\(port)", "cluster": "\(clusterDirectory.path)"])
        return (url(port: port, password: password), true)
    }

    public func stop() {
        guard (try? isRunning()) == true else { return }
        do {
            let result = try run("pg_ctl", ["-D", clusterDirectory.path, "-m", "fast", "-w", "-t", "60", "stop"])
            if result.status == 0 {
                logger.info("embedded PostgreSQL stopped", metadata: ["cluster": "\(clusterDirectory.path)"])
            } else {
                logger.error("embedded PostgreSQL did not stop: \(result.output)")
            }
        } catch {
            logger.error("embedded PostgreSQL did not stop: \(error)")
        }
    }

    /// Stops the server at once (no checkpoint; crash recovery at the next start), waiting at
    /// most `seconds`: for a process that must end now.
    public func stopImmediately(seconds: Int = 3) {
        guard postmasterPID() != nil else { return }
        _ = try? run("pg_ctl", ["-D", clusterDirectory.path, "-m", "immediate", "-w", "-t", "\(seconds)", "stop"])
    }

    public func isRunning() throws -> Bool {
        guard FileManager.default.fileExists(atPath: clusterDirectory.appendingPathComponent("PG_VERSION").path) else { return false }
        return try run("pg_ctl", ["-D", clusterDirectory.path, "status"]).status == 0
    }

    /// The postmaster's process id, from its lock file, when that process exists.
    public func postmasterPID() -> pid_t? {
        let lockFile = clusterDirectory.appendingPathComponent("postmaster.pid")
        guard let text = try? String(contentsOf: lockFile, encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = pid_t(first.trimmingCharacters(in: .whitespaces)), pid > 0
        else { return nil }
        return kill(pid, 0) == 0 || errno == EPERM ? pid : nil
    }

    /// The server log's last lines that say why the server ended, for an outage's cause.
    public func lastWords(lines: Int = 3) -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(lines).joined(separator: " | ")
    }

    public func recordedPort() -> Int? {
        guard let text = try? String(contentsOf: portFile, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func url(port: Int, password: String) -> DatabaseURL {
        DatabaseURL(host: "127.0.0.1", port: port, username: "postgres", password: password, database: database)
    }

    private func initialise(password: String) throws {
        try? FileManager.default.removeItem(at: clusterDirectory)
        try FileManager.default.createDirectory(at: clusterDirectory, withIntermediateDirectories: false)
        let pwfile = dataDirectory.appendingPathComponent(".initdb-pw-\(getpid())")
        do {
            try SecretFile.create(pwfile, text: password)
        } catch {
            throw EventStoreError.database("\(error)")
        }
        defer { try? FileManager.default.removeItem(at: pwfile) }
        if runAsPostgres {
            for path in [clusterDirectory.path, pwfile.path] {
                let chown = try Subprocess.run("/bin/chown", ["postgres:postgres", path])
                guard chown.status == 0 else {
                    throw EventStoreError.database(
                        "cannot give \(path) to the postgres user (\(chown.output)); install the postgresql package, which creates that user"
                    )
                }
            }
        }
        chmod(clusterDirectory.path, 0o700)
        let result = try run(
            "initdb",
            [
                "-D", clusterDirectory.path, "-U", "postgres", "--pwfile=\(pwfile.path)", "-E", "UTF8", "--no-locale",
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
            ])
        guard result.status == 0 else {
            throw EventStoreError.database("initdb failed for \(clusterDirectory.path): \(result.output)")
        }
        logger.info("embedded PostgreSQL initialised", metadata: ["cluster": "\(clusterDirectory.path)"])
    }

    func loadOrCreatePassword(_ passwordFile: URL) throws -> String {
        do {
            if let password = try SecretFile.read(passwordFile), !password.isEmpty { return password }
            var generator = SystemRandomNumberGenerator()
            let alphabet = Array("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
            let password = String((0..<32).map { _ in alphabet[Int(generator.next(upperBound: UInt(alphabet.count)))] })
            // Unsaved, the password would be lost with this process and the cluster locked for good.
            try? FileManager.default.removeItem(at: passwordFile)
            try SecretFile.create(passwordFile, text: password)
            return password
        } catch let problem as SecretFile.Problem {
            throw EventStoreError.database(problem.description)
        }
    }

    /// As root the server runs as `postgres`, which must be able to walk down to the cluster.
    private func checkTraversable() throws {
        var url = clusterDirectory.deletingLastPathComponent()
        while url.path != "/" {
            var info = stat()
            if stat(url.path, &info) == 0, info.st_mode & S_IXOTH == 0 {
                throw EventStoreError.database(
                    """
                    the postgres user cannot enter \(url.path) (mode \(String(info.st_mode & 0o777, radix: 8))); \
                    choose a --data-dir under a folder others may traverse, or run chmod o+x \(url.path)
                    """)
            }
            url.deleteLastPathComponent()
        }
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let path = binDirectory.appendingPathComponent(tool).path
        if runAsPostgres {
            return try Subprocess.run("/sbin/runuser", ["-u", "postgres", "--", path] + arguments)
        }
        return try Subprocess.run(path, arguments)
    }

    static func findBinDirectory() throws -> URL {
        let fileManager = FileManager.default
        if let configured = ProcessInfo.processInfo.environment["STREAMD_PG_BINDIR"] {
            return URL(fileURLWithPath: configured)
        }
        let root = "/usr/lib/postgresql"
        let versions = ((try? fileManager.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where fileManager.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return URL(fileURLWithPath: "\(root)/\(version)/bin")
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where fileManager.isExecutableFile(atPath: "\(directory)/initdb") && fileManager.isExecutableFile(atPath: "\(directory)/pg_ctl") {
            return URL(fileURLWithPath: String(directory))
        }
        throw EventStoreError.database(
            """
            no PostgreSQL server binaries (initdb, pg_ctl) found; install them with `sudo apt-get install postgresql` \
            (ops/install does), or pass --database-url to use an existing server
            """)
    }

    static func isFree(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // As PostgreSQL binds: with SO_REUSEADDR, so a port whose old connections linger in
        // TIME_WAIT after a restart still counts as free and the recorded port is kept.
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }

    static func pickFreePort() throws -> Int {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let port = Int.random(in: 15_000..<32_000, using: &generator)
            if isFree(port: port) { return port }
        }
        throw EventStoreError.database("no free TCP port between 15000 and 32000 on 127.0.0.1")
    }
}

extension EmbeddedPostgres {
    /// Creates the application database on first use (initdb makes only `postgres`).
    public func ensureDatabase(url: DatabaseURL, logger: Logger) async throws {
        let maintenance = url.with(database: "postgres")
        let connection = try await PostgresConnection.connect(
            configuration: try maintenance.connectionConfiguration(), id: 0, logger: logger)
        defer { Task { try? await connection.close() } }
        let rows = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(url.database)", logger: logger)
        var exists = false
        for try await _ in rows { exists = true }
        if !exists {
            let name = url.database.replacingOccurrences(of: "\"", with: "\"\"")
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \"\(name)\""), logger: logger)
        }
    }
}
