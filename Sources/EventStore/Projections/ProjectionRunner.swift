import Foundation
import Logging
import PostgresNIO

/// Feeds a projection from its checkpoint, page by page. For a SQL read model every page is one
/// transaction that also moves the checkpoint, so each event takes effect exactly once even across
/// crashes; an in-memory model starts from 0 at every start.
public actor ProjectionRunner {
    public enum Target: Sendable {
        case sql(any SQLProjection)
        case memory(any InMemoryProjection)
    }

    public nonisolated let name: String
    private let store: EventStore
    private let target: Target
    private let filter: EventFilter
    /// Every event up to here has been looked at (applied, or filtered out).
    public private(set) var scanned: Int64 = 0
    private var waiters: [UUID: (position: Int64, continuation: CheckedContinuation<Void, Never>)] = [:]

    public init(store: EventStore, sql projection: any SQLProjection) {
        self.store = store
        self.target = .sql(projection)
        self.name = projection.name
        self.filter = projection.filter
    }

    public init(store: EventStore, name: String, memory projection: any InMemoryProjection) {
        self.store = store
        self.target = .memory(projection)
        self.name = name
        self.filter = projection.filter
    }

    /// Runs until cancelled. With a `batchInterval`, a runner that has caught up applies a page at
    /// most that soon after the one before (the first after a quiet spell at once): a busy log's
    /// events then share one transaction instead of each costing one, and the model lags by at most
    /// the interval. Catching up (full pages) is never held back.
    public func run(pageSize: Int = 1_000, batchInterval: Duration = .zero) async {
        var position: Int64 = 0
        var lastBatch = ContinuousClock.now - batchInterval
        var caughtUp = false
        var failures = 0
        if case .sql = target {
            while !Task.isCancelled {
                do {
                    position = try await Self.checkpoint(name, store: store)
                    break
                } catch {
                    if Task.isCancelled { break }
                    store.logger.warning("projection \(name) cannot read its checkpoint, retrying: \(AppendBatcher.describe(error))")
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        advance(to: position)
        var recorded = position
        var lastRecord = ContinuousClock.now
        while !Task.isCancelled {
            if caughtUp, batchInterval > .zero, lastBatch + batchInterval > .now {
                try? await Task.sleep(until: lastBatch + batchInterval)
            }
            let head = await store.knownHeadPosition()
            do {
                let page = try await store.readLive(after: position, limit: pageSize, filter: filter)
                if !page.isEmpty {
                    lastBatch = .now
                    position = try await apply(page)
                    recorded = position
                }
                failures = 0
                caughtUp = page.count < pageSize
                if caughtUp {
                    // Nothing up to `head` (known before the read) is left for this filter: the
                    // next read starts there, not back at the last event the filter matched.
                    position = Swift.max(position, head)
                    if case .sql = target, position > recorded, lastRecord + Self.idleRecordInterval <= .now {
                        try await recordIdle(position)
                        (recorded, lastRecord) = (position, .now)
                    }
                    advance(to: position)
                    await store.waitForEvents(after: position)
                } else {
                    advance(to: position)
                }
            } catch {
                // Stopping (a CLI command done, a node shutting down) is not a stall: a cancelled
                // read or transaction surfaces as CancellationError or as a driver error.
                if Task.isCancelled { break }
                failures += 1
                if failures == 1 || failures % 30 == 0 {
                    store.logger.error("projection \(name) stalled at position \(position), retrying: \(AppendBatcher.describe(error))")
                }
                try? await Task.sleep(for: .milliseconds(Swift.min(2_000, 100 * failures)))
            }
        }
        // Stopping: what was looked at since the last record is recorded too (best effort; the
        // run is cancelled, so the write runs on its own).
        if case .sql = target, position > recorded {
            let last = position
            await Task.detached { [self] in try? await self.recordIdle(last) }.value
        }
    }

    /// Applies a page; returns the position the model now reflects.
    private func apply(_ page: [RecordedEvent]) async throws -> Int64 {
        switch target {
        case .memory(let projection):
            for event in page { await projection.apply(event) }
            return page[page.count - 1].position
        case .sql(let projection):
            let registry = store.registry
            let logger = store.logger
            let name = self.name
            let client = store.client
            return try await abandoningOnCancel {
                try await client.withTransaction(logger: logger) { connection in
                    // Locks the checkpoint and skips the WAL flush wait (migrations/0008).
                    var checkpoint: Int64 = 0
                    for try await position in try await connection.query(
                        "SELECT streamd_projection_claim(\(name))", logger: logger
                    ).decode(Int64.self) {
                        checkpoint = position
                    }
                    let fresh = page.filter { $0.position > checkpoint }
                    for event in fresh {
                        try await projection.apply(event, registry: registry, connection: connection, logger: logger)
                    }
                    let last = Swift.max(checkpoint, page[page.count - 1].position)
                    try await connection.query(
                        "UPDATE projection_checkpoints SET position = \(last) WHERE name = \(name)", logger: logger)
                    return last
                }
            }
        }
    }

    /// How often a SQL model that has caught up records that it has looked at the log up to the
    /// head: events its filter skips move its checkpoint too, so `events archive` (which waits for
    /// every model to have read what it removes) is not held back by a model with little to do.
    static let idleRecordInterval = Duration.seconds(5)

    /// Moves the checkpoint to `position` when nothing this model reads lies before it. Another
    /// node's runner may hold the row: the larger position wins.
    private func recordIdle(_ position: Int64) async throws {
        let (name, logger, client) = (name, store.logger, store.client)
        try await abandoningOnCancel {
            try await client.withConnection { connection in
                _ = try await connection.query(
                    "UPDATE projection_checkpoints SET position = GREATEST(position, \(position)) WHERE name = \(name)", logger: logger)
            }
        }
    }

    private func advance(to position: Int64) {
        guard position > scanned else { return }
        scanned = position
        for (id, waiter) in waiters where waiter.position <= position {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume()
        }
    }

    /// Returns once every event up to `position` has taken effect in the read model (so a write
    /// can be read back), or after `timeout`; returns whether it caught up.
    @discardableResult
    public func waitUntil(_ position: Int64, timeout: Duration = .seconds(10)) async -> Bool {
        if scanned >= position { return true }
        let id = UUID()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            waiters[id] = (position, continuation)
            Task { [weak self] in
                try? await Task.sleep(for: timeout)
                await self?.expire(id)
            }
        }
        return scanned >= position
    }

    private func expire(_ id: UUID) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    public static func checkpoint(_ name: String, store: EventStore) async throws -> Int64 {
        try await abandoningOnCancel {
            let rows = try await store.client.query(
                "SELECT position FROM projection_checkpoints WHERE name = \(name)", logger: store.logger)
            for try await position in rows.decode(Int64.self) { return position }
            return 0
        }
    }
}
