import Foundation
import Logging
import PostgresNIO

/// Group commit: appends from many tasks queue here and are written by a few workers, each
/// taking everything queued (up to a bound) into one transaction. While a transaction commits the
/// next batch gathers, so the single-writer log (see migrations/0001) is fed in bulk.
///
/// Each append in a batch is checked on its own (expected version, idempotent retry), so one
/// append's conflict fails that append alone.
///
/// Each batch is hashed before it is sent (`AppendHashPlanner`) while the planner's expectation of
/// the log holds; when it does not, the next batch waits for the batches in flight to report.
actor AppendBatcher {
    struct Request {
        var append: AppendHashPlanner.Append
        var complete: @Sendable (Result<AppendResult, any Error>) -> Void
        var submitted: ContinuousClock.Instant
    }

    private let connections: ConnectionSet
    private let logger: Logger
    private let maxWorkers: Int
    private let maxBatchEvents: Int
    private let onCommitStart: @Sendable () async -> Void
    /// The newest position a batch committed, or `nil` when none of it did.
    private let onCommit: @Sendable (Int64?) async -> Void
    private let recent: RecentEvents?
    private var pending: [Request] = []
    private var activeWorkers = 0

    private var planner = AppendHashPlanner()
    private var inFlight = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    private(set) var transactions = 0
    private(set) var hashedTransactions = 0

    init(
        url: DatabaseURL, eventLoop: any EventLoop, logger: Logger, maxWorkers: Int, maxBatchEvents: Int, recent: RecentEvents? = nil,
        onCommitStart: @escaping @Sendable () async -> Void = {}, onCommit: @escaping @Sendable (Int64?) async -> Void
    ) {
        self.connections = ConnectionSet(url: url, limit: maxWorkers, eventLoop: eventLoop, logger: logger)
        self.logger = logger
        self.maxWorkers = maxWorkers
        self.maxBatchEvents = maxBatchEvents
        self.recent = recent
        self.onCommitStart = onCommitStart
        self.onCommit = onCommit
    }

    func enableHashing() { planner.hashing = true }

    func submit(stream: String, expected: ExpectedVersion, events: [NewEvent]) async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            enqueue(.init(stream: stream, expected: expected, events: events)) { continuation.resume(with: $0) }
        }
    }

    /// Queues `appends` in their order (the spool's replay) and returns each one's outcome.
    func submitMany(_ appends: [AppendHashPlanner.Append]) async -> [Result<AppendResult, any Error>] {
        guard !appends.isEmpty else { return [] }
        let outcomes = OutcomeCollector(count: appends.count)
        return await withCheckedContinuation { continuation in
            outcomes.onDone = { continuation.resume(returning: $0) }
            for (index, append) in appends.enumerated() {
                enqueue(append) { outcomes.set(index, $0) }
            }
        }
    }

    private func enqueue(_ append: AppendHashPlanner.Append, complete: @escaping @Sendable (Result<AppendResult, any Error>) -> Void) {
        pending.append(Request(append: append, complete: complete, submitted: .now))
        if activeWorkers < maxWorkers {
            activeWorkers += 1
            Task { await self.work() }
        }
    }

    /// Whether the database answers within `limit` on the log's own connections.
    func probe(within limit: Duration) async -> Result<Void, any Error> {
        let logger = self.logger
        do {
            try await connections.with(deadline: limit) { connection in
                _ = try await connection.query("SELECT 1", logger: logger)
            }
            return .success(())
        } catch {
            return .failure(error)
        }
    }

    private func takeBatch() -> [Request] {
        var count = 0
        var taken = 0
        while taken < pending.count {
            let size = pending[taken].append.events.count
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
            EventLogMetrics.batch(events: batch.reduce(0) { $0 + $1.append.events.count }, pendingAfter: pending.count)
            if planner.awaitsFacts {
                // Expect again from the facts once every batch in flight has reported; until
                // then the head they will leave is unknown.
                while !planner.expectation.valid, inFlight > 0 {
                    await withCheckedContinuation { idleWaiters.append($0) }
                }
                planner.expectFromFacts()
            }
            let recordedMicroseconds = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded(.down))
            let prepared = planner.prepare(batch.map(\.append), recordedMicroseconds: recordedMicroseconds)
            if prepared.hashes != nil { hashedTransactions += 1 }
            inFlight += 1
            await onCommitStart()
            let (outcomes, report) = await commitWithRetry(prepared)
            inFlight -= 1
            planner.learn(report)
            if let recent, let report, report.tookHashes, let count = prepared.recordable(report) {
                recent.committed(first: report.head.position - Int64(count) + 1, count: count) { prepared.recorded() }
            }
            if inFlight == 0 {
                let waiters = idleWaiters
                idleWaiters = []
                for waiter in waiters { waiter.resume() }
            }
            await onCommit(outcomes.compactMap({ try? $0.get().lastPosition }).max())
            let now = ContinuousClock.now
            for (request, outcome) in zip(batch, outcomes) {
                EventLogMetrics.appended(after: now - request.submitted)
                request.complete(outcome)
            }
        }
    }

    func closeAll() async {
        await connections.closeAll()
    }

    /// Retries a batch whose connection failed: the event ids make a retry of an append that did
    /// commit come back as a duplicate, so nothing is written twice and nothing vanishes.
    private func commitWithRetry(
        _ prepared: AppendHashPlanner.Prepared
    ) async -> ([Result<AppendResult, any Error>], AppendHashPlanner.Report?) {
        let deadline = ContinuousClock.now + .seconds(15)
        var delay = Duration.milliseconds(100)
        while true {
            do {
                let logger = self.logger
                return try await connections.with(deadline: .seconds(5)) { connection in
                    try await Self.commit(prepared, connection: connection, logger: logger)
                }
            } catch {
                let reason = Self.describe(error)
                guard Self.isConnectionFailure(error), ContinuousClock.now + delay < deadline else {
                    let failure: any Error =
                        Self.isConnectionFailure(error) ? EventStoreError.unavailable(reason) : EventStoreError.database(reason)
                    return (prepared.batch.map { _ in .failure(failure) }, nil)
                }
                logger.warning("append batch failed, retrying with the same event ids: \(reason)")
                try? await Task.sleep(for: delay)
                delay = Swift.min(delay * 2, .seconds(2))
            }
        }
    }

    /// One statement, one round trip, one implicit transaction (migrations/0007).
    private static func commit(
        _ prepared: AppendHashPlanner.Prepared, connection: PostgresConnection, logger: Logger
    ) async throws -> ([Result<AppendResult, any Error>], AppendHashPlanner.Report?) {
        var outcomes = prepared.outcomes
        guard !prepared.sent.isEmpty else { return (outcomes, nil) }
        let headPosition = prepared.head?.position
        let headHash = prepared.head.map { ByteBuffer(bytes: $0.hash) }
        let hashes = prepared.hashes?.map { ByteBuffer(bytes: $0) }
        let rows = try await connection.query(
            """
            SELECT request, outcome, first_position, stream_version, actual_version, existing_positions, detail, head_hash
            FROM streamd_append_batch(\(headPosition)::bigint, \(headHash)::bytea, \(prepared.recordedMicroseconds)::bigint,
                \(prepared.streams)::text[], \(prepared.requestStreams)::integer[], \(prepared.expected)::bigint[],
                \(prepared.assumed)::bigint[], \(prepared.counts)::integer[],
                \(prepared.eventRequests)::integer[], \(prepared.ids)::uuid[], \(prepared.types)::text[], \(prepared.schemas)::integer[],
                \(prepared.data)::text[]::json[], \(prepared.metadata)::text[]::json[], \(hashes)::bytea[])
            """, logger: logger)
        var report: AppendHashPlanner.Report?
        var versions: [(String, Int64)] = []
        // Cell by cell with concrete types (see EventStore.decode).
        for cells in try await rows.collect().map({ $0.makeRandomAccess() }) {
            guard cells.count == 8 else { throw EventStoreError.database("the append batch returned \(cells.count) columns, expected 8") }
            let row = try cells[0].decode(Int32.self), outcome = try cells[1].decode(String.self)
            let first = try cells[2].decode(Int64?.self), version = try cells[3].decode(Int64?.self)
            let actual = try cells[4].decode(Int64?.self), existing = try cells[5].decode([Int64]?.self)
            let detail = try cells[6].decode(String?.self), hash = cells[7].bytes
            if row < 0 {
                if let first, let hash {
                    report = AppendHashPlanner.Report(
                        head: .init(position: first, hash: Array(buffer: hash)), versions: [], tookHashes: detail == "hashes taken")
                }
                continue
            }
            guard prepared.sent.indices.contains(Int(row)) else { continue }
            let i = prepared.sent[Int(row)]
            let request = prepared.batch[i]
            switch outcome {
            case "ok":
                let start = first ?? 0
                outcomes[i] = .success(
                    AppendResult(
                        positions: (0..<Int64(request.events.count)).map { start + $0 }, streamVersion: version ?? 0, wasDuplicate: false))
                if let version { versions.append((request.stream, version)) }
            case "duplicate":
                outcomes[i] = .success(AppendResult(positions: existing ?? [], streamVersion: version ?? 0, wasDuplicate: true))
            case "conflict":
                outcomes[i] = .failure(
                    EventStoreError.wrongExpectedVersion(stream: request.stream, expected: request.expected, actual: actual ?? 0))
                if let actual { versions.append((request.stream, actual)) }
            default:
                outcomes[i] = .failure(
                    EventStoreError.idempotencyConflict(
                        stream: request.stream, eventId: request.events[0].eventId, detail: detail ?? outcome))
            }
        }
        report?.versions = versions
        return (outcomes, report)
    }
}

/// `submitMany`'s outcomes, filled from the workers in any order. `@unchecked Sendable`: guarded by
/// the lock.
private final class OutcomeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var outcomes: [Result<AppendResult, any Error>?]
    private var remaining: Int
    var onDone: (@Sendable ([Result<AppendResult, any Error>]) -> Void)?

    init(count: Int) {
        outcomes = Array(repeating: nil, count: count)
        remaining = count
    }

    func set(_ index: Int, _ outcome: Result<AppendResult, any Error>) {
        lock.lock()
        outcomes[index] = outcome
        remaining -= 1
        let done = remaining == 0 ? (onDone, outcomes.compactMap { $0 }) : nil
        lock.unlock()
        if let done { done.0?(done.1) }
    }
}
