import Foundation
import Logging
import PostgresNIO

/// Group commit: appends from many tasks queue here and are written by a few workers, each
/// taking everything queued (up to a bound) into one transaction. While a transaction commits the
/// next batch gathers, so the single-writer log (see migrations/0001) is fed in bulk.
///
/// Each append in a batch is checked on its own (expected version, idempotent retry), so one
/// append's conflict fails that append alone.
actor AppendBatcher {
    struct Request {
        var stream: String
        var expected: ExpectedVersion
        var events: [NewEvent]
        var continuation: CheckedContinuation<AppendResult, any Error>
    }

    private let url: DatabaseURL
    private let logger: Logger
    private let maxWorkers: Int
    private let maxBatchEvents: Int
    private let onCommit: @Sendable (Int64) async -> Void
    private var pending: [Request] = []
    private var activeWorkers = 0
    /// Idle writer connections. Each worker takes one for a batch; a connection that failed is
    /// dropped, and the next batch connects afresh, so a database restart heals by itself.
    private var idle: [PostgresConnection] = []
    private var nextConnectionId = 1

    private(set) var transactions = 0

    init(url: DatabaseURL, logger: Logger, maxWorkers: Int, maxBatchEvents: Int, onCommit: @escaping @Sendable (Int64) async -> Void) {
        self.url = url
        self.logger = logger
        self.maxWorkers = maxWorkers
        self.maxBatchEvents = maxBatchEvents
        self.onCommit = onCommit
    }

    func submit(stream: String, expected: ExpectedVersion, events: [NewEvent]) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(Request(stream: stream, expected: expected, events: events, continuation: continuation))
            if activeWorkers < maxWorkers {
                activeWorkers += 1
                Task { await self.work() }
            }
        }
    }

    private func takeBatch() -> [Request] {
        var count = 0
        var taken = 0
        while taken < pending.count {
            let size = pending[taken].events.count
            if taken > 0, count + size > maxBatchEvents { break }
            count += size
            taken += 1
        }
        let batch = Array(pending.prefix(taken))
        pending.removeFirst(taken)
        return batch
    }

    private func work() async {
        while true {
            let batch = takeBatch()
            if batch.isEmpty {
                activeWorkers -= 1
                return
            }
            transactions += 1
            let outcomes = await commitWithRetry(batch)
            if let last = outcomes.compactMap({ try? $0.get().lastPosition }).max() { await onCommit(last) }
            for (request, outcome) in zip(batch, outcomes) { request.continuation.resume(with: outcome) }
        }
    }

    private func takeConnection() async throws -> PostgresConnection {
        if let connection = idle.popLast() { return connection }
        nextConnectionId += 1
        return try await PostgresConnection.connect(
            configuration: try url.connectionConfiguration(), id: nextConnectionId, logger: logger)
    }

    private func giveBack(_ connection: PostgresConnection) {
        if idle.count < maxWorkers { idle.append(connection) } else { Task { try? await connection.close() } }
    }

    func closeAll() async {
        for connection in idle { try? await connection.close() }
        idle.removeAll()
    }

    /// Retries a batch whose connection failed: the event ids make a retry of an append that did
    /// commit come back as a duplicate, so nothing is written twice and nothing vanishes.
    private func commitWithRetry(_ batch: [Request]) async -> [Result<AppendResult, any Error>] {
        let deadline = ContinuousClock.now + .seconds(15)
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let connection = try await takeConnection()
                do {
                    // A connection whose server went away between two statements of the
                    // transaction can leave the next query waiting forever (seen with PostgresNIO
                    // across a PostgreSQL restart, and closing the connection did not end it):
                    // give up on it after a bound, and the retry below takes over.
                    let logger = self.logger
                    let outcomes = try await withDeadline(.seconds(5), onTimeout: { try? await connection.close() }) {
                        try await Self.commit(batch, connection: connection, logger: logger)
                    }
                    giveBack(connection)
                    return outcomes
                } catch {
                    if Self.isConnectionFailure(error) {
                        Task { try? await connection.close() }
                    } else {
                        giveBack(connection)
                    }
                    throw error
                }
            } catch {
                let reason = Self.describe(error)
                guard Self.isConnectionFailure(error), ContinuousClock.now + delay < deadline else {
                    let failure: any Error = Self.isConnectionFailure(error) ? EventStoreError.unavailable(reason) : EventStoreError.database(reason)
                    return batch.map { _ in .failure(failure) }
                }
                logger.warning("append batch failed, retrying with the same event ids: \(reason)")
                try? await Task.sleep(for: delay)
                delay = Swift.min(delay * 2, .seconds(2))
            }
        }
    }

    private struct Existing {
        var position: Int64
        var stream: String
        var version: Int64
    }

    private static func commit(_ batch: [Request], connection: PostgresConnection, logger: Logger) async throws -> [Result<AppendResult, any Error>] {
        try await connection.query("BEGIN", logger: logger)
        do {
            let outcomes = try await commitInTransaction(batch, connection: connection, logger: logger)
            try await connection.query("COMMIT", logger: logger)
            return outcomes
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    private static func commitInTransaction(_ batch: [Request], connection: PostgresConnection, logger: Logger) async throws -> [Result<AppendResult, any Error>] {
        // The head's lock must be held before anything is read: in READ COMMITTED each statement
        // sees what committed before it began, so the checks below see every earlier append.
        try await connection.query("SELECT position FROM event_log_head FOR UPDATE", logger: logger)

        let streams = Array(Set(batch.map(\.stream)))
        let ids = batch.flatMap { $0.events.map(\.eventId) }
        var versions: [String: Int64] = [:]
        var existing: [UUID: Existing] = [:]
        let rows = try await connection.query("""
            SELECT 0, s, coalesce((SELECT max(stream_version) FROM events e WHERE e.stream_id = s), 0), NULL::uuid, 0::bigint
            FROM unnest(\(streams)::text[]) AS s
            UNION ALL
            SELECT 1, stream_id, stream_version, event_id, position FROM events WHERE event_id = ANY(\(ids)::uuid[])
            """, logger: logger)
        for try await (kind, stream, version, eventId, position) in rows.decode((Int32, String, Int64, UUID?, Int64).self) {
            if kind == 0 {
                versions[stream] = version
            } else if let eventId {
                existing[eventId] = Existing(position: position, stream: stream, version: version)
            }
        }

        enum Plan {
            case failed(any Error)
            case duplicate(AppendResult)
            /// Offsets into the rows inserted now.
            case inserted(first: Int, count: Int, version: Int64)
            /// A retry inside this same batch of an append planned earlier in it.
            case sameAs(Int)
        }
        var plans: [Plan] = []
        var insertedIds: [UUID: Int] = [:]  // event id -> request index
        var rowStreams: [String] = [], rowVersions: [Int64] = [], rowIds: [UUID] = []
        var rowTypes: [String] = [], rowSchemas: [Int32] = [], rowData: [String] = [], rowMetadata: [String] = []

        for (index, request) in batch.enumerated() {
            let requestIds = request.events.map(\.eventId)
            let known = requestIds.compactMap { existing[$0] }
            let knownHere = requestIds.compactMap { insertedIds[$0] }
            if !knownHere.isEmpty {
                if knownHere.count == requestIds.count, Set(knownHere).count == 1, let earlier = knownHere.first,
                   batch[earlier].stream == request.stream, batch[earlier].events.map(\.eventId) == requestIds {
                    plans.append(.sameAs(earlier))
                } else {
                    plans.append(.failed(EventStoreError.idempotencyConflict(
                        stream: request.stream, eventId: requestIds[0], detail: "ids overlap another append in flight")))
                }
                continue
            }
            if !known.isEmpty {
                let contiguous = zip(known, known.dropFirst()).allSatisfy { $0.version + 1 == $1.version && $0.stream == $1.stream }
                if known.count == requestIds.count, contiguous, known[0].stream == request.stream {
                    plans.append(.duplicate(AppendResult(
                        positions: known.map(\.position), streamVersion: known[known.count - 1].version, wasDuplicate: true)))
                } else {
                    let first = known[0]
                    plans.append(.failed(EventStoreError.idempotencyConflict(
                        stream: request.stream, eventId: requestIds.first { existing[$0] != nil } ?? requestIds[0],
                        detail: "stored at position \(first.position) in \(first.stream)")))
                }
                continue
            }
            let current = versions[request.stream] ?? 0
            guard request.expected.admits(current) else {
                plans.append(.failed(EventStoreError.wrongExpectedVersion(stream: request.stream, expected: request.expected, actual: current)))
                continue
            }
            let first = rowIds.count
            for (offset, event) in request.events.enumerated() {
                rowStreams.append(request.stream)
                rowVersions.append(current + Int64(offset) + 1)
                rowIds.append(event.eventId)
                rowTypes.append(event.eventType)
                rowSchemas.append(Int32(clamping: event.schemaVersion))
                rowData.append(event.data)
                rowMetadata.append(try EventCoding.encodeString(event.metadata))
                insertedIds[event.eventId] = index
            }
            let version = current + Int64(request.events.count)
            versions[request.stream] = version
            plans.append(.inserted(first: first, count: request.events.count, version: version))
        }

        var firstPosition: Int64 = 0
        if !rowIds.isEmpty {
            let rows = try await connection.query("""
                SELECT streamd_insert_events(\(rowStreams)::text[], \(rowVersions)::bigint[], \(rowIds)::uuid[], \
                \(rowTypes)::text[], \(rowSchemas)::integer[], \(rowData)::text[]::jsonb[], \(rowMetadata)::text[]::jsonb[])
                """, logger: logger)
            for try await first in rows.decode(Int64.self) { firstPosition = first }
        }

        var outcomes: [Result<AppendResult, any Error>] = []
        for plan in plans {
            switch plan {
            case .failed(let error): outcomes.append(.failure(error))
            case .duplicate(let result): outcomes.append(.success(result))
            case .inserted(let first, let count, let version):
                let positions = (0..<count).map { firstPosition + Int64(first + $0) }
                outcomes.append(.success(AppendResult(positions: positions, streamVersion: version, wasDuplicate: false)))
            case .sameAs(let earlier):
                var result = (try? outcomes[earlier].get()) ?? AppendResult(positions: [], streamVersion: 0, wasDuplicate: true)
                result.wasDuplicate = true
                outcomes.append(.success(result))
            }
        }
        return outcomes
    }

    static func isConnectionFailure(_ error: any Error) -> Bool {
        if let error = error as? PSQLError {
            switch error.code {
            case .serverClosedConnection, .connectionError, .clientClosedConnection, .uncleanShutdown, .poolClosed:
                return true
            case .server:
                // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection
                let state = error.serverInfo?[.sqlState] ?? ""
                return state.hasPrefix("57P") || state.hasPrefix("08")
            default:
                return false
            }
        }
        if let error = error as? PostgresTransactionError {
            return [error.beginError, error.closureError, error.commitError].contains { $0.map(isConnectionFailure) ?? false }
        }
        // The pool fails leases fast while it backs off from failed connection attempts; its
        // error type lives in an underscored module, hence the name check.
        return error is ChannelError || error is IOError || error is DeadlineExceeded || String(reflecting: type(of: error)).hasSuffix("ConnectionPoolError")
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                return "\(message) (SQLSTATE \(error.serverInfo?[.sqlState] ?? "?"))"
            }
            return "\(error.code)\(error.underlying.map { ": \($0)" } ?? "")"
        }
        return String(describing: error)
    }
}

/// Resumes once, with whichever comes first: the work's outcome or the deadline. Unlike a task
/// group it does not wait for work that ignores cancellation; such work is left to finish alone.
func withDeadline<T: Sendable>(
    _ limit: Duration, onTimeout: @escaping @Sendable () async -> Void, _ work: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withCheckedThrowingContinuation { continuation in
        once.continuation = continuation
        let worker = Task { once.resume(with: await Result(catching: { try await work() })) }
        Task {
            try? await Task.sleep(for: limit)
            if once.resume(with: .failure(DeadlineExceeded(limit: limit))) {
                worker.cancel()
                await onTimeout()
            }
        }
    }
}

struct DeadlineExceeded: Error, CustomStringConvertible {
    var limit: Duration
    var description: String { "the database did not answer within \(limit)" }
}

/// Guarded by its lock: the continuation is resumed exactly once from either of two tasks.
private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    var continuation: CheckedContinuation<T, any Error>?

    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        lock.lock()
        let continuation = self.continuation
        self.continuation = nil
        lock.unlock()
        continuation?.resume(with: result)
        return continuation != nil
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
