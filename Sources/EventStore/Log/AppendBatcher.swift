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
/// The batcher also hashes each batch before sending it (migrations/0007), from where it expects
/// the log's head and each stream's version to be: the database holds the head's lock the whole
/// time a batch is inserted and committed, so work it need not do there is throughput. These
/// expectations are only a guess that the database checks; a wrong one costs the database the
/// hashing, never correctness.
actor AppendBatcher {
    struct Request {
        var stream: String
        var expected: ExpectedVersion
        var events: [NewEvent]
        var continuation: CheckedContinuation<AppendResult, any Error>
    }

    /// One batch as sent: the function's arguments, and which requests were sent at all.
    struct Prepared: Sendable {
        var batch: [Request]
        var outcomes: [Result<AppendResult, any Error>]
        /// Indices into `batch` of the requests sent, in order.
        var sent: [Int] = []
        var streams: [String] = []
        var requestStreams: [Int32] = []
        var expected: [Int64] = []
        var assumed: [Int64] = []
        var counts: [Int32] = []
        var eventRequests: [Int32] = []
        var ids: [UUID] = []
        var types: [String] = []
        var schemas: [Int32] = []
        var data: [String] = []
        var metadata: [String] = []
        var recordedMicroseconds: Int64 = 0
        var head: Head?
        var hashes: [[UInt8]]?
    }

    struct Head: Sendable, Equatable {
        var position: Int64
        var hash: [UInt8]
    }

    /// What a committed batch says about the log: its head afterwards, streams' versions, and
    /// whether the database took the batch's own hashes.
    struct Report: Sendable {
        var head: Head
        var versions: [(String, Int64)]
        var tookHashes: Bool
    }

    /// Where the log will be once every batch in flight commits as sent, while that is still
    /// believed (`valid`).
    private struct Expectation {
        var valid = false
        var head = Head(position: 0, hash: HashChain.genesis)
        var versions: [String: Int64] = [:]
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

    /// False unless the database's encoding is UTF-8 (where its canonical bytes are Swift's).
    private var hashing = false
    private var expectation = Expectation()
    /// Facts from committed batches: the newest head seen, each stream's highest version seen.
    private var known = Expectation()
    private var inFlight = 0
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    private static let maxStreamsRemembered = 50_000

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

    func enableHashing() { hashing = true }

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
            if hashing, !expectation.valid {
                // Expect again from the facts once every batch in flight has reported; until
                // then the head they will leave is unknown.
                while !expectation.valid, inFlight > 0 {
                    await withCheckedContinuation { idleWaiters.append($0) }
                }
                if !expectation.valid { expectation = known }
            }
            let prepared = prepare(batch)
            if prepared.hashes != nil { hashedTransactions += 1 }
            inFlight += 1
            await onCommitStart()
            let (outcomes, report) = await commitWithRetry(prepared)
            inFlight -= 1
            learn(report)
            if let recent, let report, report.tookHashes, let count = Self.recordable(prepared, report) {
                recent.committed(first: report.head.position - Int64(count) + 1, count: count) { Self.recorded(prepared) }
            }
            if inFlight == 0 {
                let waiters = idleWaiters
                idleWaiters = []
                for waiter in waiters { waiter.resume() }
            }
            await onCommit(outcomes.compactMap({ try? $0.get().lastPosition }).max())
            for (request, outcome) in zip(batch, outcomes) { request.continuation.resume(with: outcome) }
        }
    }

    /// Builds the function's arguments; hashes them when the head and every stream's version
    /// before each request are expected, and then expects the batch to commit as sent.
    private func prepare(_ batch: [Request]) -> Prepared {
        var prepared = Prepared(batch: batch, outcomes: .init(
            repeating: .failure(EventStoreError.database("the append batch returned no outcome")), count: batch.count))
        // The function needs ids unique within a batch; a request repeating ids seen earlier in
        // it (its own retry racing it, or a mistake) is refused here.
        var seen = Set<UUID>()
        for (index, request) in batch.enumerated() {
            let ids = request.events.map(\.eventId)
            if ids.contains(where: seen.contains) || Set(ids).count != ids.count {
                prepared.outcomes[index] = .failure(EventStoreError.idempotencyConflict(
                    stream: request.stream, eventId: ids[0], detail: "its event ids repeat within appends in flight"))
            } else {
                seen.formUnion(ids)
                prepared.sent.append(index)
            }
        }
        prepared.recordedMicroseconds = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded(.down))
        var streamIndex: [String: Int32] = [:]
        // Appends in a batch mostly share their metadata (one actor, one request): encode each once.
        var encodedMetadata: [EventMetadata: String] = [:]
        let encoder = EventCoding.encoder()
        // Updated in place (a copy per batch would cost as much as the streams remembered); if the
        // batch turns out unhashable the expectation is dropped and rebuilt from the facts anyway.
        var hashable = hashing && expectation.valid
        for (position, index) in prepared.sent.enumerated() {
            let request = batch[index]
            if streamIndex[request.stream] == nil {
                prepared.streams.append(request.stream)
                streamIndex[request.stream] = Int32(prepared.streams.count)
            }
            prepared.requestStreams.append(streamIndex[request.stream] ?? 1)
            let base: Int64?
            switch request.expected {
            case .any:
                prepared.expected.append(-1)
                base = expectation.versions[request.stream]
            case .noStream:
                prepared.expected.append(0)
                base = 0
            case .exact(let version):
                prepared.expected.append(Swift.max(0, version))
                base = Swift.max(0, version)
            }
            if let base {
                prepared.assumed.append(base)
                expectation.versions[request.stream] = base + Int64(request.events.count)
            } else {
                prepared.assumed.append(-1)
                hashable = false
            }
            prepared.counts.append(Int32(clamping: request.events.count))
            for event in request.events {
                prepared.eventRequests.append(Int32(position + 1))
                prepared.ids.append(event.eventId)
                prepared.types.append(event.eventType)
                prepared.schemas.append(Int32(clamping: event.schemaVersion))
                prepared.data.append(event.data)
                if let encoded = encodedMetadata[event.metadata] {
                    prepared.metadata.append(encoded)
                } else {
                    // EventMetadata always encodes; a failure here would be a bug in its Codable.
                    let encoded = (try? encoder.encode(event.metadata)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                    encodedMetadata[event.metadata] = encoded
                    prepared.metadata.append(encoded)
                }
            }
        }
        guard hashable, !prepared.sent.isEmpty else {
            // The database hashes this one; what it leaves is known when it reports.
            expectation.valid = false
            return prepared
        }
        var chain = expectation.head.hash
        var position = expectation.head.position
        var hashes: [[UInt8]] = []
        hashes.reserveCapacity(prepared.ids.count)
        var offset = 0
        for (slot, index) in prepared.sent.enumerated() {
            let request = batch[index]
            for (k, event) in request.events.enumerated() {
                position += 1
                chain = HashChain.next(after: chain, canonical: HashChain.canonical(
                    position: position, streamId: request.stream, streamVersion: prepared.assumed[slot] + Int64(k + 1),
                    eventId: event.eventId, eventType: event.eventType, schemaVersion: Int(prepared.schemas[offset + k]),
                    data: event.data, metadata: prepared.metadata[offset + k], recordedMicroseconds: prepared.recordedMicroseconds))
                hashes.append(chain)
            }
            offset += request.events.count
        }
        prepared.head = expectation.head
        prepared.hashes = hashes
        expectation.head = Head(position: position, hash: chain)
        if expectation.versions.count > Self.maxStreamsRemembered { expectation.versions = [:] }
        return prepared
    }

    /// How many rows a batch whose own hashes the database took now holds, if the report agrees
    /// that every request was stored as sent, at consecutive positions after the expected head.
    private static func recordable(_ prepared: Prepared, _ report: Report) -> Int? {
        guard let head = prepared.head, let hashes = prepared.hashes, !hashes.isEmpty, hashes.count == prepared.ids.count,
              report.head.position == head.position + Int64(hashes.count), report.head.hash == hashes.last else { return nil }
        return hashes.count
    }

    /// Those rows (see `recordable`), as the log returns them.
    private static func recorded(_ prepared: Prepared) -> [RecordedEvent] {
        guard let head = prepared.head, let hashes = prepared.hashes else { return [] }
        // As PostgresNIO decodes the stored timestamptz, so both paths give the same Date.
        let recordedAt = Date(
            timeInterval: Double(prepared.recordedMicroseconds - 946_684_800_000_000) / 1_000_000,
            since: Date(timeIntervalSince1970: 946_684_800))
        var events: [RecordedEvent] = []
        events.reserveCapacity(hashes.count)
        var offset = 0
        for (slot, index) in prepared.sent.enumerated() {
            let request = prepared.batch[index]
            for (k, event) in request.events.enumerated() {
                events.append(RecordedEvent(
                    position: head.position + Int64(offset + 1), streamId: request.stream,
                    streamVersion: prepared.assumed[slot] + Int64(k + 1), eventId: event.eventId, eventType: event.eventType,
                    schemaVersion: Int(prepared.schemas[offset]), data: Data(event.data.utf8), metadata: event.metadata,
                    recordedAt: recordedAt, hash: hashes[offset]))
                offset += 1
            }
        }
        return events
    }

    /// Folds a batch's report into what is known. A batch the database had to hash (or that
    /// failed) means batches in flight behind it were hashed from a wrong guess.
    private func learn(_ report: Report?) {
        if let report {
            if report.head.position >= known.head.position { known.head = report.head }
            for (stream, version) in report.versions where version > known.versions[stream] ?? -1 {
                known.versions[stream] = version
            }
            if known.versions.count > Self.maxStreamsRemembered { known.versions = [:] }
            known.valid = true
        }
        if report?.tookHashes != true { expectation.valid = false }
    }

    func closeAll() async {
        await connections.closeAll()
    }

    /// Retries a batch whose connection failed: the event ids make a retry of an append that did
    /// commit come back as a duplicate, so nothing is written twice and nothing vanishes.
    private func commitWithRetry(_ prepared: Prepared) async -> ([Result<AppendResult, any Error>], Report?) {
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
                    let failure: any Error = Self.isConnectionFailure(error) ? EventStoreError.unavailable(reason) : EventStoreError.database(reason)
                    return (prepared.batch.map { _ in .failure(failure) }, nil)
                }
                logger.warning("append batch failed, retrying with the same event ids: \(reason)")
                try? await Task.sleep(for: delay)
                delay = Swift.min(delay * 2, .seconds(2))
            }
        }
    }

    /// One statement, one round trip, one implicit transaction (migrations/0007).
    private static func commit(_ prepared: Prepared, connection: PostgresConnection, logger: Logger) async throws -> ([Result<AppendResult, any Error>], Report?) {
        var outcomes = prepared.outcomes
        guard !prepared.sent.isEmpty else { return (outcomes, nil) }
        let headPosition = prepared.head?.position
        let headHash = prepared.head.map { ByteBuffer(bytes: $0.hash) }
        let hashes = prepared.hashes?.map { ByteBuffer(bytes: $0) }
        let rows = try await connection.query("""
            SELECT request, outcome, first_position, stream_version, actual_version, existing_positions, detail, head_hash
            FROM streamd_append_batch(\(headPosition)::bigint, \(headHash)::bytea, \(prepared.recordedMicroseconds)::bigint,
                \(prepared.streams)::text[], \(prepared.requestStreams)::integer[], \(prepared.expected)::bigint[],
                \(prepared.assumed)::bigint[], \(prepared.counts)::integer[],
                \(prepared.eventRequests)::integer[], \(prepared.ids)::uuid[], \(prepared.types)::text[], \(prepared.schemas)::integer[],
                \(prepared.data)::text[]::json[], \(prepared.metadata)::text[]::json[], \(hashes)::bytea[])
            """, logger: logger)
        var report: Report?
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
                    report = Report(head: Head(position: first, hash: Array(buffer: hash)), versions: [], tookHashes: detail == "hashes taken")
                }
                continue
            }
            guard prepared.sent.indices.contains(Int(row)) else { continue }
            let i = prepared.sent[Int(row)]
            let request = prepared.batch[i]
            switch outcome {
            case "ok":
                let start = first ?? 0
                outcomes[i] = .success(AppendResult(
                    positions: (0..<Int64(request.events.count)).map { start + $0 }, streamVersion: version ?? 0, wasDuplicate: false))
                if let version { versions.append((request.stream, version)) }
            case "duplicate":
                outcomes[i] = .success(AppendResult(positions: existing ?? [], streamVersion: version ?? 0, wasDuplicate: true))
            case "conflict":
                outcomes[i] = .failure(EventStoreError.wrongExpectedVersion(stream: request.stream, expected: request.expected, actual: actual ?? 0))
                if let actual { versions.append((request.stream, actual)) }
            default:
                outcomes[i] = .failure(EventStoreError.idempotencyConflict(
                    stream: request.stream, eventId: request.events[0].eventId, detail: detail ?? outcome))
            }
        }
        report?.versions = versions
        return (outcomes, report)
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
        let timer = Task {
            try? await Task.sleep(for: limit)
            if once.resume(with: .failure(DeadlineExceeded(limit: limit))) {
                worker.cancel()
                await onTimeout()
            }
        }
        // The timer goes as soon as the work is done: one left sleeping per read would pile up by
        // the thousand at a few hundred reads a second.
        Task {
            _ = await worker.value
            timer.cancel()
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
