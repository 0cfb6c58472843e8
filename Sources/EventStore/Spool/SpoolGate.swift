import Foundation
import Logging
import Synchronization

/// Whether appends reach the database or the spool, and the way back (docs/architecture.md#the-spool).
///
/// `direct`: every append goes to the group committer. A spoolable append that has no answer within
/// `spoolAfter`, or fails for want of a connection, starts an outage: the gate turns to `spooling`
/// and that append and every later spoolable one go to the spool, in the order they arrive, while
/// confirmed appends are refused at once with the reason. A probe looks for the database each
/// second; once it answers the gate turns to `draining` and replays the spool through the group
/// committer (new spoolable appends still go to the spool behind it, so each stream keeps its
/// order), then to `direct` again, and records the outage as `DatabaseOutage`.
///
/// A spoolable append that timed out may still commit from the group committer's retry; its
/// replay then comes back as a duplicate (same event ids), so nothing is written twice.
actor SpoolGate {
    enum Mode: Equatable {
        case direct
        case spooling
        case draining
    }

    struct Outage {
        var startedAt: Date
        var cause: String
        var spooledAppends = 0
        var spooledEvents = 0
        var replayedAppends = 0
        var replayedEvents = 0
        var refused = 0
        var duplicates = 0
        var conflicts = 0
    }

    nonisolated let spool: EventSpool
    private let batcher: AppendBatcher
    private let logger: Logger
    private let node: String
    let spoolAfter: Duration
    private(set) var mode: Mode = .direct
    private var outage: Outage?
    private var recovery: Task<Void, Never>?
    private var directWaiters: [CheckedContinuation<Void, Never>] = []
    /// Set for the last rounds of a replay: new spoolable appends wait for it to end instead of
    /// joining the spool, or a steady writer would keep the replay going round after round.
    private var holding = false
    private var held: [CheckedContinuation<Void, Never>] = []
    /// `mode == .direct`, readable without a hop onto the actor.
    private nonisolated let direct = Atomic<Bool>(true)
    private var closed = false
    /// The last replay: how many events, and how long from the first segment read to direct again.
    private(set) var lastReplay: (events: Int, duration: Duration)?

    init(spool: EventSpool, batcher: AppendBatcher, spoolAfter: Duration, node: String, logger: Logger) {
        self.spool = spool
        self.batcher = batcher
        self.spoolAfter = spoolAfter
        self.node = node
        self.logger = logger
    }

    nonisolated var isDirect: Bool { direct.load(ordering: .acquiring) }

    private func setMode(_ mode: Mode) {
        self.mode = mode
        direct.store(mode == .direct, ordering: .releasing)
        if mode == .direct {
            let waiters = directWaiters
            directWaiters = []
            for waiter in waiters { waiter.resume() }
        }
        if mode != .draining { releaseHeld() }
    }

    private func releaseHeld() {
        holding = false
        let waiting = held
        held = []
        for waiter in waiting { waiter.resume() }
    }

    /// Spools `append` unless the gate is direct again (then nil: the caller appends directly).
    /// `cause` starts an outage when the gate was direct.
    func spool(_ append: SpooledAppend, cause: String?) async throws -> AppendResult? {
        var cause = cause
        if holding {
            await withCheckedContinuation { held.append($0) }
            // The database answered the replay meanwhile: whatever failed this append before is past.
            cause = nil
        }
        if mode == .direct {
            guard let cause else { return nil }
            beginOutage(cause: cause)
        }
        let payload = try EventCoding.encoder().encode(append)
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                spool.enqueue(payload) { continuation.resume(with: $0) }
            }
        } catch {
            outage?.refused += 1
            EventLogMetrics.spoolRefused()
            logger.error("lost \(append.events.map(\.type).joined(separator: ", ")) for \(append.stream): \(error)")
            throw error
        }
        outage?.spooledAppends += 1
        outage?.spooledEvents += append.events.count
        EventLogMetrics.spooled(events: append.events.count, bytes: spool.bytes)
        return AppendResult(positions: [], streamVersion: 0, wasDuplicate: false, spooled: true)
    }

    /// Why a confirmed append is refused now, or nil when it may go ahead: at once while spooling,
    /// after waiting up to `replayWait` for a replay to finish.
    func refusal(replayWait: Duration = .seconds(3)) async -> String? {
        if mode == .draining { _ = await awaitDirect(within: replayWait) }
        return mode == .direct ? nil : unavailableReason
    }

    /// Waits up to `limit` for the gate to be direct; says whether it is.
    func awaitDirect(within limit: Duration) async -> Bool {
        if mode == .direct { return true }
        let timer = Task {
            try? await Task.sleep(for: limit)
            self.releaseWaiters()
        }
        await withCheckedContinuation { directWaiters.append($0) }
        timer.cancel()
        return mode == .direct
    }

    private func releaseWaiters() {
        let waiters = directWaiters
        directWaiters = []
        for waiter in waiters { waiter.resume() }
    }

    /// Why confirmed appends are refused now.
    var unavailableReason: String {
        guard let outage else { return "the spool is being replayed" }
        let since = EventCoding.formatDate(outage.startedAt)
        return mode == .draining
            ? "the database is back and the spool is being replayed (away since \(since): \(outage.cause))"
            : "away since \(since): \(outage.cause)"
    }

    private func beginOutage(cause: String) {
        var cause = cause
        if let (detail, at) = notedCause, at.duration(to: .now) < .seconds(30) { cause += "; \(detail)" }
        notedCause = nil
        outage = Outage(startedAt: Date(), cause: cause)
        setMode(.spooling)
        EventLogMetrics.databaseUp(false)
        logger.error(
            "the event log's database is away; platform events go to the local spool until it is back",
            metadata: ["cause": "\(cause)", "spool": "\(spool.configuration.directory.path)"])
        recovery = Task { await self.recover() }
    }

    /// Adds to the cause an outage records (the embedded cluster's supervisor knows how it ended);
    /// when no outage has begun yet, the next one within 30 s takes it.
    func noteCause(_ detail: String) {
        if outage != nil {
            outage?.cause += "; \(detail)"
        } else {
            notedCause = (detail, .now)
        }
    }

    private var notedCause: (String, ContinuousClock.Instant)?

    /// The embedded cluster's supervisor restarted a postmaster that died at `downSince`. When the
    /// gate never had to spool (the restart came within the append path's retries), this records
    /// the outage; otherwise the spool's own `DatabaseOutage` carries the cause.
    func restarted(downSince: Date, cause: String) {
        guard outage == nil, notedCause != nil else { return }
        notedCause = nil
        let event = DatabaseOutage.repaired(downSince: downSince, cause: cause, node: node)
        record(event)
    }

    private func record(_ event: DatabaseOutage) {
        Task { try? await self.appendOwn(event, stream: "database") }
    }

    /// Appends one of the log's own facts (an outage, a damaged file, a conflict) straight to the
    /// group committer; a failure is logged and thrown.
    private func appendOwn<E: DomainEvent>(_ event: E, stream: String, eventId: UUID = UUID()) async throws {
        do {
            _ = try await batcher.submit(
                stream: stream, expected: .any,
                events: [try NewEvent(event, metadata: EventMetadata(actor: .system("event log")), eventId: eventId)])
        } catch {
            logger.error("could not record \(E.eventType): \(error)")
            throw error
        }
    }

    private func recover() async {
        var delay = Duration.milliseconds(500)
        while !Task.isCancelled, !closed {
            try? await Task.sleep(for: delay)
            guard !Task.isCancelled, !closed else { return }
            guard case .success = await batcher.probe(within: .seconds(2)) else {
                delay = min(delay * 2, .seconds(2))
                continue
            }
            setMode(.draining)
            logger.notice("the event log's database is back; replaying the spool", metadata: ["bytes": "\(spool.bytes)"])
            let replayStart = ContinuousClock.now
            if await drain() {
                lastReplay = (outage?.replayedEvents ?? 0, replayStart.duration(to: .now))
                finishOutage()
                return
            }
            guard !closed else { return }
            setMode(.spooling)
            logger.warning("the database went away again during the spool's replay; still spooling")
            delay = .milliseconds(500)
        }
    }

    private func finishOutage() {
        guard let outage else { return }
        self.outage = nil
        EventLogMetrics.databaseUp(true)
        let event = DatabaseOutage(
            startedAt: outage.startedAt, endedAt: Date(), cause: outage.cause, spooledAppends: outage.replayedAppends,
            spooledEvents: outage.replayedEvents, duplicates: outage.duplicates, conflicts: outage.conflicts, refused: outage.refused,
            node: node)
        logger.notice(
            "the event log is whole again after the database outage",
            metadata: [
                "seconds": "\(String(format: "%.1f", event.endedAt.timeIntervalSince(event.startedAt)))",
                "spooled_events": "\(event.spooledEvents)", "duplicates": "\(event.duplicates)", "conflicts": "\(event.conflicts)",
                "refused": "\(event.refused)",
            ])
        record(event)
    }

    /// Replays what a previous process left in the spool, before anything else appends; the
    /// outage it stands for is recorded with the oldest spooled time as its start.
    func replayLeftovers() async throws {
        guard !spool.isEmpty else { return }
        outage = Outage(startedAt: Date(), cause: "appends left in the spool by an earlier run while the database was away")
        setMode(.draining)
        logger.notice(
            "replaying the spool left by an earlier run",
            metadata: ["bytes": "\(spool.bytes)", "spool": "\(spool.configuration.directory.path)"])
        guard await drain() else {
            setMode(.direct)
            outage = nil
            throw EventStoreError.unavailable("the database went away while the spool was replayed", whileAppending: false)
        }
        finishOutage()
    }

    /// Replays every sealed segment in order; direct again once nothing is left. False when the
    /// database failed meanwhile (the segment being replayed stays, to be replayed again).
    private func drain() async -> Bool {
        var rounds = 0
        while !closed {
            let segments = await spool.seal()
            if segments.isEmpty, spool.isEmpty {
                setMode(.direct)
                return true
            }
            // After the first round only what came in meanwhile is left: appends arriving now
            // wait, so the next round is the last.
            if rounds > 0 { holding = true }
            rounds += 1
            for segment in segments {
                guard await replay(segment) else {
                    releaseHeld()
                    return false
                }
            }
        }
        releaseHeld()
        return false
    }

    private func replay(_ segment: EventSpool.Segment) async -> Bool {
        let contents: SpoolSegmentContents
        do {
            contents = try SpoolSegmentContents(reading: segment.url)
        } catch {
            logger.error("cannot replay \(segment.url.path): \(error); it stays in the spool")
            return false
        }
        if let first = contents.appends.first, let outage, first.spooledAt < outage.startedAt {
            self.outage?.startedAt = first.spooledAt
        }
        // Whole segments at a time (8 MiB, some 20,000 appends): the group committer cuts them into
        // transactions back to back, where smaller chunks left it idle between them.
        let chunk = 50_000
        var index = 0
        while index < contents.appends.count {
            let part = Array(contents.appends[index..<min(index + chunk, contents.appends.count)])
            let outcomes = await batcher.submitMany(
                part.map { .init(stream: $0.stream, expected: $0.expectedVersion, events: $0.newEvents) })
            for (append, outcome) in zip(part, outcomes) {
                switch outcome {
                case .success(let result):
                    if result.wasDuplicate { outage?.duplicates += 1 }
                case .failure(let error):
                    if case EventStoreError.unavailable = error { return false }
                    guard await resolve(append, error: error) else { return false }
                }
            }
            let events = part.reduce(0) { $0 + $1.events.count }
            outage?.replayedAppends += part.count
            outage?.replayedEvents += events
            EventLogMetrics.replayed(events: events, bytesLeft: spool.bytes)
            index += chunk
        }
        if let damage = contents.damage {
            let kept = segment.url.lastPathComponent + ".damaged"
            logger.error(
                "part of the spool could not be read back: \(damage.bytes) bytes from offset \(damage.offset) of \(segment.url.path) (\(damage.reason)); the \(contents.appends.count) records before it were replayed, the file is kept as \(kept)"
            )
            spool.retire(segment, keepAs: "damaged")
            let event = SpoolDamaged(
                file: kept, offset: damage.offset, bytes: damage.bytes, reason: damage.reason, replayedRecords: contents.appends.count)
            try? await appendOwn(event, stream: "database")
        } else {
            spool.retire(segment)
        }
        return true
    }

    /// A replayed append the log refused: appended anyway or recorded whole, as its caller asked.
    private func resolve(_ append: SpooledAppend, error: any Error) async -> Bool {
        if case EventStoreError.wrongExpectedVersion = error, append.onConflict == .appendAnyway {
            do {
                _ = try await batcher.submit(stream: append.stream, expected: .any, events: append.newEvents)
                return true
            } catch {
                if case EventStoreError.unavailable = error { return false }
                return await recordConflict(append, error: error)
            }
        }
        return await recordConflict(append, error: error)
    }

    private func recordConflict(_ append: SpooledAppend, error: any Error) async -> Bool {
        outage?.conflicts += 1
        var actual: Int64?
        if case EventStoreError.wrongExpectedVersion(_, _, let version) = error { actual = version }
        let event = SpooledAppendConflicted(
            stream: append.stream, expected: append.expectedVersion.description, actualVersion: actual, detail: "\(error)",
            spooledAt: append.spooledAt,
            events: append.events.map {
                .init(eventId: $0.id, eventType: $0.type, schemaVersion: $0.schema, data: $0.data, metadata: $0.metadata)
            })
        logger.warning("a spooled append to \(append.stream) was refused on replay and is kept as SpooledAppendConflicted: \(error)")
        do {
            try await appendOwn(event, stream: "spool-conflicts", eventId: Self.derivedId(append.events[0].id))
            return true
        } catch {
            return false
        }
    }

    /// The id of the event that stands for a spooled one, the same on every replay so a replay
    /// repeated after a failure comes back as a duplicate.
    static func derivedId(_ id: UUID) -> UUID {
        var bytes = id.uuid
        bytes.0 ^= 0x5A
        bytes.15 ^= 0xA5
        return UUID(uuid: bytes)
    }

    /// Stops probing; what is spooled stays on disk for the next start.
    func close() {
        closed = true
        recovery?.cancel()
        releaseWaiters()
        releaseHeld()
        spool.close()
    }
}
