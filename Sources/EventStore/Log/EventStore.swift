import Foundation
import Logging
import PostgresNIO

/// The platform's event log in PostgreSQL (DESIGN.md §4): typed appends with optimistic
/// concurrency and group commit, a gap-free global order, reads, and subscriptions.
public final class EventStore: Sendable {
    public struct Options: Sendable {
        /// Concurrent group-commit transactions per process. One: more wait on the single writer's
        /// lock and waste batches hashed ahead of it (docs/benchmarks.md#append-workers).
        public var appendWorkers = 1
        public var maxBatchEvents = 2_000
        /// How long a caught-up reader waits for a notification before it looks anyway.
        public var pollInterval: Duration = .seconds(1)
        public var maximumConnections = 16
        public var migrate = true
        /// The schema's owner, when the store's own role is the application's: migrations run as
        /// the owner, which then grants the store's role what `ApplicationRole` lists (nil: they run
        /// as the store's role).
        public var ownerURL: DatabaseURL?
        /// Where every connection to the database does its I/O (see `defaultGroup`).
        public var eventLoopGroup: any EventLoopGroup = EventStore.defaultGroup
        /// Where spoolable appends go while the database is away (nil: they fail as confirmed ones do).
        public var spool: EventSpool.Configuration?
        /// How long a spoolable append waits for the database before it goes to the spool.
        public var spoolAfter: Duration = .seconds(2)
        /// This node's name in `DatabaseOutage`.
        public var node = ProcessInfo.processInfo.hostName

        public init() {}
    }

    /// One loop of the log's own, so a commit's reply never waits behind chat fan-out or HTTP work
    /// on NIO's shared loops; one thread decodes the log's traffic easily
    /// (docs/benchmarks.md#log-event-loop).
    public static let defaultGroup = MultiThreadedEventLoopGroup._makePerpetualGroup(threadNamePrefix: "NIO-PG-", numberOfThreads: 1)

    let client: PostgresClient
    /// Read models' tables, for the types that own them.
    public var readModels: ReadModelDatabase { ReadModelDatabase(client: client, logger: logger) }
    public let url: DatabaseURL
    public let registry: EventRegistry
    public let logger: Logger
    let options: Options
    let notifier: LogNotifier
    /// What this node committed last, for readers at the head (`readLive`).
    let recent: RecentEvents
    private let batcher: AppendBatcher
    /// Set when the store spools (`Options.spool`).
    private let gate: SpoolGate?
    let readers: ConnectionSet
    private let tasks: Task<Void, Never>

    private init(
        client: PostgresClient, url: DatabaseURL, registry: EventRegistry, options: Options, logger: Logger, loop: any EventLoop,
        recent: RecentEvents, notifier: LogNotifier, tasks: Task<Void, Never>, spool: EventSpool?
    ) {
        self.client = client
        self.url = url
        self.registry = registry
        self.options = options
        self.logger = logger
        self.recent = recent
        self.notifier = notifier
        self.tasks = tasks
        self.readers = ConnectionSet(url: url, limit: 4, eventLoop: loop, logger: logger)
        let batcher = AppendBatcher(
            url: url, eventLoop: loop, logger: logger, maxWorkers: options.appendWorkers, maxBatchEvents: options.maxBatchEvents,
            recent: recent, onCommitStart: { await notifier.commitStarted() },
            onCommit: { await notifier.commitFinished(at: $0) })
        self.batcher = batcher
        if spool != nil { EventLogMetrics.databaseUp(true) }
        self.gate = spool.map { SpoolGate(spool: $0, batcher: batcher, spoolAfter: options.spoolAfter, node: options.node, logger: logger) }
    }

    /// Connects, applies pending migrations, and starts listening for appends from other nodes.
    public static func open(
        url: DatabaseURL, registry: EventRegistry, options: Options = Options(), logger: Logger
    ) async throws -> EventStore {
        // One connection first: the pool retries a refused connection behind a circuit breaker for
        // about a minute before it says so, where this says it at once.
        do {
            let probe = try await PostgresConnection.connect(
                on: options.eventLoopGroup.next(), configuration: try url.connectionConfiguration(), id: 0, logger: logger)
            try? await probe.close()
        } catch {
            let reason = "cannot connect to \(url): \(AppendBatcher.describe(error))"
            // A refusal (a wrong password, no such database) will not pass by waiting.
            guard AppendBatcher.isConnectionFailure(error) else { throw EventStoreError.database(reason) }
            throw EventStoreError.unavailable(reason, whileAppending: false)
        }
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = options.maximumConnections
        let client = PostgresClient(configuration: configuration, eventLoopGroup: options.eventLoopGroup, backgroundLogger: logger)
        let recent = RecentEvents()
        let notifier = LogNotifier(recent: recent)
        let loop = options.eventLoopGroup.next()
        let spool = try options.spool.map { try EventSpool(configuration: $0, logger: logger) }
        // Started immediately, so the pool is running (it marks itself so synchronously) before
        // the first lease: leasing earlier works but logs a warning, which a CLI command printed
        // above its output under load. `shutdown()` ends both.
        let tasks = Task.immediate {
            await withDiscardingTaskGroup { group in
                group.addImmediateTask { await client.run() }
                group.addTask { await notifier.listen(url: url, eventLoop: loop, logger: logger) }
            }
        }
        let store = EventStore(
            client: client, url: url, registry: registry, options: options, logger: logger, loop: loop, recent: recent, notifier: notifier,
            tasks: tasks, spool: spool)
        do {
            if options.migrate { try await migrate(url: url, options: options, client: client, logger: logger) }
            // In another encoding the database's canonical bytes could differ from Swift's UTF-8.
            let encoding = try await client.query("SHOW server_encoding", logger: logger)
            for try await name in encoding.decode(String.self) where name.uppercased() == "UTF8" {
                await store.batcher.enableHashing()
            }
            await store.notifier.advance(to: try await store.headPosition())
            try await store.gate?.replayLeftovers()
            await store.notifier.advance(to: try await store.headPosition())
        } catch {
            await store.shutdown()
            if let error = error as? EventStoreError { throw error }
            throw EventStoreError.unavailable("cannot use the database at \(url): \(AppendBatcher.describe(error))", whileAppending: false)
        }
        return store
    }

    private static func migrate(url: DatabaseURL, options: Options, client: PostgresClient, logger: Logger) async throws {
        guard let owner = options.ownerURL, owner.username != url.username else {
            try await Migrator.bundled().migrate(client, logger: logger)
            return
        }
        // Hosts may differ (a pooler in front of the application's connections); databases may not.
        guard owner.database == url.database else {
            throw EventStoreError.database("the owner's URL (\(owner)) and the database URL (\(url)) must name the same database")
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(
                on: options.eventLoopGroup.next(), configuration: try owner.connectionConfiguration(), id: 1, logger: logger)
        } catch {
            let reason = "cannot connect as the schema's owner to \(owner): \(AppendBatcher.describe(error))"
            guard AppendBatcher.isConnectionFailure(error) else { throw EventStoreError.database(reason) }
            throw EventStoreError.unavailable(reason, whileAppending: false)
        }
        do {
            try await Migrator.bundled().migrate(connection, granting: url.username, logger: logger)
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// The store's role, when it could rewrite the log (UPDATE `events`, or drop its triggers as
    /// the table's owner); nil when it can only read and append.
    public func roleThatCanRewriteLog() async throws -> String? {
        let (client, logger) = (client, logger)
        return try await client.withConnection { connection in
            try await ApplicationRole.rewriter(on: connection, logger: logger)
        }
    }

    public func shutdown() async {
        // What is spooled stays on disk, fsync'd, for the next start to replay.
        await gate?.close()
        await batcher.closeAll()
        await readers.closeAll()
        tasks.cancel()
        await tasks.value
    }

    // MARK: Appending

    /// Appends `events` to `stream`. A `.confirmed` append returns once it is committed, or fails;
    /// a `.spoolable` one may instead return `spooled` while the database is away: it is in the
    /// local spool on disk and reaches the log when the database is back.
    public func append(
        to stream: String, expectedVersion: ExpectedVersion, events: [NewEvent], durability: AppendDurability = .confirmed
    ) async throws -> AppendResult {
        try StreamId.validate(stream)
        guard !events.isEmpty else { throw EventStoreError.emptyAppend(stream: stream) }
        let events = RequestCorrelation.stamp(events)
        guard let gate else { return try await batcher.submit(stream: stream, expected: expectedVersion, events: events) }
        let batcher = self.batcher
        guard let policy = durability.conflictPolicy else {
            if !gate.isDirect, let reason = await gate.refusal() {
                throw EventStoreError.unavailable(reason, whileAppending: false)
            }
            return try await batcher.submit(stream: stream, expected: expectedVersion, events: events)
        }
        let madeAt = Date()
        var cause: String?
        if gate.isDirect {
            do {
                return try await withDeadline(gate.spoolAfter, onTimeout: {}) {
                    try await batcher.submit(stream: stream, expected: expectedVersion, events: events)
                }
            } catch {
                guard Self.isOutage(error) else { throw error }
                cause = AppendBatcher.describe(error)
            }
        }
        let record = SpooledAppend(stream: stream, expected: expectedVersion, onConflict: policy, events: events, spooledAt: madeAt)
        if let spooled = try await gate.spool(record, cause: cause) { return spooled }
        return try await batcher.submit(stream: stream, expected: expectedVersion, events: events)
    }

    public func append<E: DomainEvent>(
        _ event: E, to stream: String, expectedVersion: ExpectedVersion = .any, metadata: EventMetadata, eventId: UUID = UUID(),
        durability: AppendDurability = .confirmed
    ) async throws -> AppendResult {
        try await append(
            to: stream, expectedVersion: expectedVersion, events: [NewEvent(event, metadata: metadata, eventId: eventId)],
            durability: durability)
    }

    /// The append failed for want of the database, not because the log refused it.
    static func isOutage(_ error: any Error) -> Bool {
        if case EventStoreError.unavailable = error { return true }
        return AppendBatcher.isConnectionFailure(error)
    }

    /// Whether appends reach the database now (false while they go to the spool, or it replays).
    public var isDatabaseReachable: Bool { gate?.isDirect ?? true }

    /// Bytes in the local spool not yet replayed.
    public var spooledBytes: Int { gate?.spool.bytes ?? 0 }

    /// Events the last replay of the spool took back into the log, and how long it took.
    public func lastSpoolReplay() async -> (events: Int, duration: Duration)? { await gate?.lastReplay }

    /// Stops the spool's writer once what it was given is on disk (a process about to end).
    public func closeSpool(waitingAtMost limit: Duration) { gate?.spool.close(waitingAtMost: limit) }

    /// Adds how the database ended to the outage being recorded (the embedded cluster's supervisor).
    public func noteOutageCause(_ detail: String) async { await gate?.noteCause(detail) }

    /// The supervisor brought the database back: records the outage when the spool did not.
    public func databaseRestarted(downSince: Date, cause: String) async {
        if let gate {
            await gate.restarted(downSince: downSince, cause: cause)
            return
        }
        let event = DatabaseOutage.repaired(downSince: downSince, cause: cause, node: options.node)
        do {
            _ = try await append(event, to: "database", metadata: EventMetadata(actor: .system("event log")))
        } catch {
            logger.error("could not record the database outage: \(error)")
        }
    }

    /// Transactions the group committer has run in this process.
    public func appendTransactions() async -> Int { await batcher.transactions }

    /// Of those, the ones it hashed itself (the rest the database hashed).
    public func hashedAppendTransactions() async -> Int { await batcher.hashedTransactions }

    // MARK: Reading

    public func headPosition() async throws -> Int64 {
        let (client, logger) = (client, logger)
        return try await retryingConnection {
            let rows = try await client.query("SELECT position FROM event_log_head", logger: logger)
            for try await position in rows.decode(Int64.self) { return position }
            return 0
        }
    }

    /// Reads wait out a short database outage (a restart, a failover) instead of failing at once.
    /// A cancelled caller returns at once, leaving the attempt behind (`abandoningOnCancel`).
    func retryingConnection<T: Sendable>(
        for limit: Duration = .seconds(10), _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let deadline = ContinuousClock.now + limit
        var delay = Duration.milliseconds(100)
        while true {
            do {
                return try await abandoningOnCancel(body)
            } catch {
                guard AppendBatcher.isConnectionFailure(error) else { throw error }
                guard ContinuousClock.now + delay < deadline else {
                    throw EventStoreError.unavailable(AppendBatcher.describe(error), whileAppending: false)
                }
                try await Task.sleep(for: delay)
                delay = Swift.min(delay * 2, .seconds(1))
            }
        }
    }

    /// The head position as far as this process knows without asking the database.
    public func knownHeadPosition() async -> Int64 { await notifier.latest }

    static let columns =
        "position, stream_id, stream_version, event_id, event_type, schema_version, data::text, metadata::text, recorded_at, hash"

    /// One stream's events from `version` on, in order: all of them (a session's stream passes
    /// 10,000 events in under an hour), or the first `limit`. Reads in pages; a caller that must
    /// not hold a long stream in memory iterates `streamPages` instead.
    public func readStream(_ stream: String, fromVersion version: Int64 = 1, limit: Int? = nil) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        let wanted = Swift.max(0, limit ?? .max)
        for try await page in streamPages(stream, fromVersion: version, pageSize: Swift.min(wanted, Self.streamPageSize)) {
            events.append(contentsOf: page.prefix(wanted - events.count))
            if events.count >= wanted { break }
        }
        return events
    }

    static let streamPageSize = 5_000

    /// One stream's events from `version` on, a page of at most `pageSize` at a time, to the end
    /// of the stream as it is when the last page is read.
    public func streamPages(_ stream: String, fromVersion version: Int64 = 1, pageSize: Int = 5_000) -> StreamPages {
        StreamPages(store: self, stream: stream, fromVersion: version, pageSize: Swift.max(1, pageSize))
    }

    /// The pages of `streamPages`: keyset paging on the stream's version.
    public struct StreamPages: AsyncSequence, Sendable {
        public typealias Element = [RecordedEvent]
        let store: EventStore
        let stream: String
        let fromVersion: Int64
        let pageSize: Int

        public struct AsyncIterator: AsyncIteratorProtocol {
            let store: EventStore
            let stream: String
            var version: Int64
            let pageSize: Int
            var finished = false

            public mutating func next() async throws -> [RecordedEvent]? {
                guard !finished else { return nil }
                let page = try await store.readStreamPage(stream, fromVersion: version, limit: pageSize)
                if page.count < pageSize { finished = true }
                guard let last = page.last else { return nil }
                version = last.streamVersion + 1
                return page
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(store: store, stream: stream, version: fromVersion, pageSize: pageSize)
        }
    }

    func readStreamPage(_ stream: String, fromVersion version: Int64, limit: Int) async throws -> [RecordedEvent] {
        let (client, logger) = (client, logger)
        return try await retryingConnection {
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.columns) FROM events
                WHERE stream_id = \(stream) AND stream_version >= \(version) ORDER BY stream_version LIMIT \(limit)
                """, logger: logger)
            return try await Self.decode(rows)
        }
    }

    /// `read(after:limit:filter:)` for a reader that follows the log's head and waits with
    /// `waitForEvents` when a page comes back short: served from this node's latest commits when
    /// they are the whole log after `position` as far as this node has heard. Another node's
    /// commit becomes visible here with its notification (or the poll), as the wait it ends does.
    func readLive(after position: Int64, limit: Int, filter: EventFilter) async throws -> [RecordedEvent] {
        if let page = recent.read(after: position, limit: Swift.max(1, limit), filter: filter) { return page }
        return try await read(after: position, limit: limit, filter: filter)
    }

    /// The newest position this node has heard of (its own commits and every node's
    /// notifications), without suspending: for a reader that looks on its own timer whether the
    /// log grew past what it read. Like `waitForEvents`, only a hint: a lost notification is seen
    /// by reading anyway now and then.
    public var heardHeadPosition: Int64 { recent.head }

    /// `readLive`'s page when this node's memory of its latest commits can give it, without
    /// suspending; nil when only the database can say. `through` is how far the page looked: a
    /// reader that handled `events` goes on after it. For readers that must not hop threads per
    /// page (the webhook dispatcher runs on one event loop).
    public func recentPage(after position: Int64, limit: Int, filter: EventFilter) -> (events: [RecordedEvent], through: Int64)? {
        recent.page(after: position, limit: Swift.max(1, limit), filter: filter)
    }

    /// Events after `position` (exclusive) in log order.
    public func read(after position: Int64, limit: Int = 1_000, filter: EventFilter = .all) async throws -> [RecordedEvent] {
        let (logger, readers) = (logger, readers)
        return try await retryingConnection {
            try await readers.with { connection in
                try await Self.read(after: position, limit: limit, filter: filter, on: connection, logger: logger)
            }
        }
    }

    /// Events before `position` (exclusive) that pass `filter`, newest first: the latest matches
    /// without reading the log from its start.
    public func read(before position: Int64, limit: Int = 1_000, filter: EventFilter = .all) async throws -> [RecordedEvent] {
        let (logger, readers) = (logger, readers)
        return try await retryingConnection {
            try await readers.with { connection in
                var bindings = PostgresBindings()
                bindings.append(position)
                let sql = "SELECT \(Self.columns) FROM events WHERE position < $1" + Self.conditions(filter, &bindings)
                bindings.append(Int64(Swift.max(1, limit)))
                let rows = try await connection.query(
                    PostgresQuery(unsafeSQL: sql + " ORDER BY position DESC LIMIT $\(bindings.count)", binds: bindings), logger: logger)
                return try await Self.decode(rows)
            }
        }
    }

    /// The event at `position`, or nil when the log does not reach it.
    public func event(at position: Int64) async throws -> RecordedEvent? {
        guard position > 0 else { return nil }
        return try await read(after: position - 1, limit: 1).first { $0.position == position }
    }

    /// How many events after `position` pass `filter` (a report's totals without reading them).
    public func count(after position: Int64, filter: EventFilter = .all) async throws -> Int {
        let (logger, readers) = (logger, readers)
        return try await retryingConnection {
            try await readers.with { connection in
                var bindings = PostgresBindings()
                bindings.append(position)
                let sql = "SELECT count(*) FROM events WHERE position > $1" + Self.conditions(filter, &bindings)
                let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
                for try await count in rows.decode(Int64.self) { return Int(count) }
                return 0
            }
        }
    }

    static func read(
        after position: Int64, limit: Int, filter: EventFilter, on connection: PostgresConnection, logger: Logger
    ) async throws -> [RecordedEvent] {
        var bindings = PostgresBindings()
        bindings.append(position)
        var sql = "SELECT \(columns) FROM events WHERE position > $1" + conditions(filter, &bindings)
        bindings.append(Int64(max(1, limit)))
        sql += " ORDER BY position LIMIT $\(bindings.count)"
        let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        return try await decode(rows)
    }

    /// The filter as SQL (` AND ...` each), its values bound after those already in `bindings`;
    /// `EventFilter.matches` is the same test in Swift.
    static func conditions(_ filter: EventFilter, _ bindings: inout PostgresBindings) -> String {
        var sql = ""
        if let stream = filter.stream {
            bindings.append(stream)
            sql += " AND stream_id = $\(bindings.count)"
        }
        if let prefix = filter.streamPrefix {
            let escaped = prefix.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            bindings.append(escaped + "%")
            sql += " AND stream_id LIKE $\(bindings.count)"
        }
        if let last = filter.toPosition {
            bindings.append(last)
            sql += " AND position <= $\(bindings.count)"
        }
        if let types = filter.types {
            bindings.append(types)
            sql += " AND event_type = ANY($\(bindings.count)::text[])"
        }
        if let since = filter.since {
            bindings.append(since)
            sql += " AND recorded_at >= $\(bindings.count)"
        }
        if let until = filter.until {
            bindings.append(until)
            sql += " AND recorded_at < $\(bindings.count)"
        }
        if let actor = filter.actor {
            let parts = actor.split(separator: ":", maxSplits: 1)
            bindings.append(String(parts.first ?? ""))
            sql += " AND metadata->'actor'->>'kind' = $\(bindings.count)"
            if parts.count > 1 {
                bindings.append(String(parts[1]))
                sql += " AND metadata->'actor'->>'id' = $\(bindings.count)"
            }
        }
        if let correlation = filter.correlationId {
            bindings.append(correlation.uuidString.uppercased())
            // The IS NOT NULL lets the planner use the partial index (migration 0015).
            sql += " AND upper(metadata->>'correlationId') = $\(bindings.count) AND metadata->>'correlationId' IS NOT NULL"
        }
        if let causation = filter.causationId {
            bindings.append(causation.uuidString.uppercased())
            sql += " AND upper(metadata->>'causationId') = $\(bindings.count) AND metadata->>'causationId' IS NOT NULL"
        }
        return sql
    }

    static func decode(_ rows: PostgresRowSequence) async throws -> [RecordedEvent] {
        // A page is collected, then decoded cell by cell with concrete types: decoding each row
        // as a tuple through the async sequence spent more time looking up generic tuple metadata
        // and switching tasks than reading the values.
        let page = try await rows.collect()
        var events: [RecordedEvent] = []
        events.reserveCapacity(page.count)
        let decoder = EventCoding.decoder()
        // Metadata repeats (one actor, one request, many events); decoding JSON is the costliest
        // step of a catch-up read, so each distinct text is decoded once per page, looked up by
        // its bytes (hashing a String would normalise Unicode first).
        var metadataByText: [ByteBuffer: EventMetadata] = [:]
        for row in page {
            let cells = row.makeRandomAccess()
            guard cells.count == 10 else {
                throw EventStoreError.database("an events row came back with \(cells.count) columns, expected 10")
            }
            let metadataBytes = cells[7].bytes ?? ByteBuffer()
            let metadata: EventMetadata
            if let known = metadataByText[metadataBytes] {
                metadata = known
            } else {
                metadata = try decoder.decode(EventMetadata.self, from: Data(metadataBytes.readableBytesView))
                metadataByText[metadataBytes] = metadata
            }
            events.append(
                RecordedEvent(
                    position: try cells[0].decode(Int64.self), streamId: try cells[1].decode(String.self),
                    streamVersion: try cells[2].decode(Int64.self), eventId: try cells[3].decode(UUID.self),
                    eventType: try cells[4].decode(String.self), schemaVersion: Int(try cells[5].decode(Int32.self)),
                    data: Data((cells[6].bytes ?? ByteBuffer()).readableBytesView), metadata: metadata,
                    recordedAt: try cells[8].decode(Date.self), hash: Array(buffer: cells[9].bytes ?? ByteBuffer())))
        }
        return events
    }

    /// Waits until the log is known to extend past `position`, or the poll interval passes.
    public func waitForEvents(after position: Int64) async {
        await notifier.wait(after: position, timeout: options.pollInterval)
    }

    // MARK: Subscribing

    /// Every event after `position` that passes `filter`: first those already in the log, then
    /// live ones as they commit, each exactly once and in log order. Pulls from the database at
    /// its own pace, so a slow consumer never holds up appends or other subscribers. Ends when
    /// its task is cancelled; database outages are waited out.
    public func subscribe(after position: Int64, filter: EventFilter = .all, pageSize: Int = 500) -> EventSubscription {
        EventSubscription(store: self, start: position, filter: filter, pageSize: pageSize)
    }
}
