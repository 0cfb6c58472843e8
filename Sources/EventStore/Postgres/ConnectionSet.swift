import Foundation
import Logging
import PostgresNIO

/// A few connections of our own for the log's hot paths (group commit, catch-up reads), where a
/// dead connection must be noticed and replaced at once: a connection that failed is dropped and
/// the next use connects afresh, and every use has a deadline, because across a PostgreSQL
/// restart PostgresNIO has been seen to leave a query waiting forever.
///
/// At most `limit` connections exist; a use beyond them waits for one to come back. Every commit
/// wakes every subscription at once, and connecting for the surplus cost a backend fork and a
/// SCRAM exchange per read (docs/benchmarks.md#log-connections).
actor ConnectionSet {
    private let url: DatabaseURL
    private let logger: Logger
    private let limit: Int
    private let eventLoop: any EventLoop
    private var idle: [PostgresConnection] = []
    /// Connections that exist or are being opened: idle, in use, or connecting.
    private var open = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var nextId = 1_000
    /// Set by `closeAll`: a connection in use then is closed when it comes back, and none is
    /// opened afterwards (one left idle would be freed unclosed, which PostgresNIO traps on).
    private var closed = false

    init(url: DatabaseURL, limit: Int, eventLoop: any EventLoop, logger: Logger) {
        self.url = url
        self.limit = Swift.max(1, limit)
        self.eventLoop = eventLoop
        self.logger = logger
    }

    func with<T: Sendable>(
        deadline: Duration = .seconds(10), _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await take()
        do {
            let result = try await withDeadline(deadline, onTimeout: { try? await connection.close() }) {
                try await body(connection)
            }
            giveBack(connection)
            return result
        } catch {
            if AppendBatcher.isConnectionFailure(error) {
                drop(connection)
            } else {
                giveBack(connection)
            }
            throw error
        }
    }

    private func take() async throws -> PostgresConnection {
        while true {
            guard !closed else { throw EventStoreError.unavailable("the event store was shut down", whileAppending: false) }
            while let connection = idle.popLast() {
                if !connection.isClosed { return connection }
                open -= 1
            }
            if open < limit {
                open += 1
                nextId += 1
                do {
                    return try await PostgresConnection.connect(
                        on: eventLoop, configuration: try url.connectionConfiguration(), id: nextId, logger: logger)
                } catch {
                    open -= 1
                    wakeOne()
                    throw error
                }
            }
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func giveBack(_ connection: PostgresConnection) {
        if !closed, !connection.isClosed {
            idle.append(connection)
            wakeOne()
        } else {
            drop(connection)
        }
    }

    /// A connection that failed, or that came back after `closeAll`: closed, and its place freed.
    private func drop(_ connection: PostgresConnection) {
        open -= 1
        Task { try? await connection.close() }
        wakeOne()
    }

    private func wakeOne() {
        guard !waiters.isEmpty else { return }
        waiters.removeFirst().resume()
    }

    func closeAll() async {
        closed = true
        let connections = idle
        open -= idle.count
        idle.removeAll()
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.resume() }
        for connection in connections { try? await connection.close() }
    }
}
