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

    private let connections: ConnectionSet
    private let logger: Logger
    private let maxWorkers: Int
    private let maxBatchEvents: Int
    private let onCommit: @Sendable (Int64) async -> Void
    private var pending: [Request] = []
    private var activeWorkers = 0

    private(set) var transactions = 0

    init(url: DatabaseURL, logger: Logger, maxWorkers: Int, maxBatchEvents: Int, onCommit: @escaping @Sendable (Int64) async -> Void) {
        self.connections = ConnectionSet(url: url, keep: maxWorkers, logger: logger)
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

    func closeAll() async {
        await connections.closeAll()
    }

    /// Retries a batch whose connection failed: the event ids make a retry of an append that did
    /// commit come back as a duplicate, so nothing is written twice and nothing vanishes.
    private func commitWithRetry(_ batch: [Request]) async -> [Result<AppendResult, any Error>] {
        let deadline = ContinuousClock.now + .seconds(15)
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let logger = self.logger
                return try await connections.with(deadline: .seconds(5)) { connection in
                    try await Self.commit(batch, connection: connection, logger: logger)
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

    /// One statement, one round trip, one implicit transaction (migrations/0003).
    private static func commit(_ batch: [Request], connection: PostgresConnection, logger: Logger) async throws -> [Result<AppendResult, any Error>] {
        var outcomes = [Result<AppendResult, any Error>](
            repeating: .failure(EventStoreError.database("the append batch returned no outcome")), count: batch.count)
        // The function needs ids unique within a batch; a request repeating ids seen earlier in
        // it (its own retry racing it, or a mistake) is refused here.
        var seen = Set<UUID>()
        var sent: [Int] = []
        for (index, request) in batch.enumerated() {
            let ids = request.events.map(\.eventId)
            if ids.contains(where: seen.contains) || Set(ids).count != ids.count {
                outcomes[index] = .failure(EventStoreError.idempotencyConflict(
                    stream: request.stream, eventId: ids[0], detail: "its event ids repeat within appends in flight"))
            } else {
                seen.formUnion(ids)
                sent.append(index)
            }
        }
        var streams: [String] = [], streamIndex: [String: Int32] = [:]
        var requestStreams: [Int32] = [], expected: [Int64] = [], counts: [Int32] = [], eventRequests: [Int32] = []
        var ids: [UUID] = [], types: [String] = [], schemas: [Int32] = [], data: [String] = [], metadata: [String] = []
        // Appends in a batch mostly share their metadata (one actor, one request): encode each once.
        var encodedMetadata: [EventMetadata: String] = [:]
        let encoder = EventCoding.encoder()
        for (position, index) in sent.enumerated() {
            let request = batch[index]
            if streamIndex[request.stream] == nil {
                streams.append(request.stream)
                streamIndex[request.stream] = Int32(streams.count)
            }
            requestStreams.append(streamIndex[request.stream] ?? 1)
            switch request.expected {
            case .any: expected.append(-1)
            case .noStream: expected.append(0)
            case .exact(let version): expected.append(Swift.max(0, version))
            }
            counts.append(Int32(clamping: request.events.count))
            for event in request.events {
                eventRequests.append(Int32(position + 1))
                ids.append(event.eventId)
                types.append(event.eventType)
                schemas.append(Int32(clamping: event.schemaVersion))
                data.append(event.data)
                if let encoded = encodedMetadata[event.metadata] {
                    metadata.append(encoded)
                } else {
                    let encoded = String(decoding: try encoder.encode(event.metadata), as: UTF8.self)
                    encodedMetadata[event.metadata] = encoded
                    metadata.append(encoded)
                }
            }
        }
        guard !sent.isEmpty else { return outcomes }
        let rows = try await connection.query("""
            SELECT request, outcome, first_position, stream_version, actual_version, existing_positions, detail
            FROM streamd_append_batch(\(streams)::text[], \(requestStreams)::integer[], \(expected)::bigint[], \(counts)::integer[],
                \(eventRequests)::integer[], \(ids)::uuid[], \(types)::text[], \(schemas)::integer[],
                \(data)::text[]::jsonb[], \(metadata)::text[]::jsonb[])
            """, logger: logger)
        for try await (row, outcome, first, version, actual, existing, detail) in rows.decode(
            (Int32, String, Int64?, Int64?, Int64?, [Int64]?, String?).self
        ) {
            guard sent.indices.contains(Int(row)) else { continue }
            let i = sent[Int(row)]
            let request = batch[i]
            switch outcome {
            case "ok":
                let start = first ?? 0
                outcomes[i] = .success(AppendResult(
                    positions: (0..<Int64(request.events.count)).map { start + $0 }, streamVersion: version ?? 0, wasDuplicate: false))
            case "duplicate":
                outcomes[i] = .success(AppendResult(positions: existing ?? [], streamVersion: version ?? 0, wasDuplicate: true))
            case "conflict":
                outcomes[i] = .failure(EventStoreError.wrongExpectedVersion(stream: request.stream, expected: request.expected, actual: actual ?? 0))
            default:
                outcomes[i] = .failure(EventStoreError.idempotencyConflict(
                    stream: request.stream, eventId: request.events[0].eventId, detail: detail ?? outcome))
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
