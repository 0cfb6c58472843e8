import Foundation

/// Runs other programs (pg_ctl, initdb, and in tests ffmpeg or a second streamd).
public enum Subprocess {
    /// Runs a tool to completion with posix_spawn and waitpid: Foundation's `Process` leaves
    /// children unreaped when waited on from a blocked cooperative thread. Output goes through a
    /// file, not a pipe, because `pg_ctl start` leaves the server holding its stdout.
    public static func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        try start(path, arguments).wait()
    }

    /// `run` on a thread of its own, so that waiting for the child blocks no task executor thread.
    public static func runDetached(_ path: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try run(path, arguments) })
            }
            thread.start()
        }
    }

    /// A started program; its output (stdout and stderr) goes to `outputPath`.
    public struct Running: Sendable {
        public let pid: pid_t
        public let outputPath: String

        /// Sends `signal`, waits for the exit, and returns the status and output.
        public func stop(signal: Int32 = SIGTERM) -> (status: Int32, output: String) {
            kill(pid, signal)
            return wait()
        }

        /// Waits for the exit; returns the status (128 + signal when killed) and the output.
        public func wait() -> (status: Int32, output: String) {
            defer { unlink(outputPath) }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1, errno == EINTR {}
            let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
            let exited = status & 0x7f == 0
            return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), declared only under _GNU_SOURCE,
    /// which Swift's Glibc module does not define: looked up once by name instead.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// Starts a program without waiting for it (a server under test, or `run`'s child).
    public static func start(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        let outputPath = NSTemporaryDirectory() + "/streamd-run-\(UUID().uuidString)"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o666)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else crosses over: a child holding a copy of a socket (an encoder's connection, a
        // listener) would keep it open after streamd closes it, and the peer would never see the close.
        guard let closeFrom = addCloseFrom, closeFrom(&actions, 3) == 0 else {
            throw EventStoreError.database(
                "cannot run \(path): this C library cannot close inherited descriptors (glibc 2.34 or later is needed)")
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var merged = ProcessInfo.processInfo.environment
        merged.merge(environment) { _, new in new }
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw EventStoreError.database("cannot run \(path): \(String(cString: strerror(spawned)))")
        }
        return Running(pid: pid, outputPath: outputPath)
    }
}
