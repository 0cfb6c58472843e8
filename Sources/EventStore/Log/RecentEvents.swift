import Foundation
import Synchronization

/// The newest events this node committed, as the log holds them, so that live readers (every
/// subscription and projection at the log's head) take them from memory instead of each
/// re-reading the same rows a moment after they were written: every commit used to wake one
/// database read per projection and per chat fan-out.
///
/// It holds one run of consecutive positions. It answers a read only when the run starts at or
/// before the reader's next position and reaches the newest position this node has heard of, by
/// its own commits or by another node's notification; otherwise the reader goes to the database.
/// Positions are dense and a batch commits under the head's lock after every earlier position
/// (DESIGN.md §4), so a run without holes that reaches the known head is exactly what the
/// database would return. Only batches the committer hashed itself enter the run: for those it
/// knows every stored byte, including each event's hash.
final class RecentEvents: Sendable {
    /// A committed batch not yet turned into events. The committer hands over what it already
    /// holds and the first read that needs the rows builds them, off the committer's path: with
    /// no reader at the head, keeping the batch costs the committer nothing.
    struct Unbuilt {
        var first: Int64
        var count: Int
        var build: @Sendable () -> [RecordedEvent]
    }

    struct State {
        /// `events[start...]` and then `unbuilt` are the run, in position order.
        var events: [RecordedEvent] = []
        var start = 0
        var unbuilt: [Unbuilt] = []
        /// The newest position known to be committed anywhere.
        var head: Int64 = 0
        var hits = 0
        /// When each batch of the run was committed, by its last position, oldest first.
        var batches: [(last: Int64, at: ContinuousClock.Instant)] = []
        var batchesStart = 0

        var built: ArraySlice<RecordedEvent> { events[start...] }
        var first: Int64? { built.first?.position ?? unbuilt.first?.first }
        var last: Int64? {
            if let segment = unbuilt.last { return segment.first + Int64(segment.count) - 1 }
            return built.last?.position
        }

        mutating func reset() {
            events = []
            start = 0
            unbuilt = []
            batches = []
            batchesStart = 0
        }

        /// Drops batches committed before `cutoff` (never the newest): readers at the head need
        /// seconds of history, and a quiet node should not hold the last `capacity` events for
        /// good.
        mutating func expire(before cutoff: ContinuousClock.Instant) {
            while batches.count - batchesStart > 1, batches[batchesStart].at < cutoff {
                let last = batches[batchesStart].last
                batchesStart += 1
                while let event = built.first, event.position <= last { start += 1 }
                while built.isEmpty, unbuilt.count > 1, unbuilt[0].first + Int64(unbuilt[0].count) - 1 <= last {
                    unbuilt.removeFirst()
                }
            }
            if batchesStart > 64, batchesStart * 2 > batches.count {
                batches.removeFirst(batchesStart)
                batchesStart = 0
            }
        }

        /// Drops the oldest events beyond `capacity` (whole unbuilt batches, never the newest).
        mutating func trim(to capacity: Int) {
            var total = built.count + unbuilt.reduce(0) { $0 + $1.count }
            if total > capacity {
                let dropped = Swift.min(built.count, total - capacity)
                start += dropped
                total -= dropped
            }
            while total > capacity, built.isEmpty, unbuilt.count > 1 {
                total -= unbuilt.removeFirst().count
            }
            // Compact once the dropped prefix outweighs the run, so appends stay amortised O(1) and
            // dropped events do not stay referenced.
            if start > 0, start >= built.count || start > capacity {
                events.removeFirst(start)
                start = 0
            }
        }
    }

    let capacity: Int
    /// Batches older than this leave the run (docs/benchmarks.md#soak-curves).
    let maxAge: Duration
    private let state = Mutex(State())

    init(capacity: Int = 8_192, maxAge: Duration = .seconds(10)) {
        self.capacity = Swift.max(1, capacity)
        self.maxAge = maxAge
    }

    /// Reads it answered.
    var hits: Int { state.withLock { $0.hits } }

    /// A batch this node committed, in position order.
    func committed(_ batch: [RecordedEvent], now: ContinuousClock.Instant = .now) {
        guard let first = batch.first?.position else { return }
        committed(first: first, count: batch.count, now: now) { batch }
    }

    /// A batch this node committed at positions `first ..< first + count`, whose events `build`
    /// returns when a reader needs them.
    func committed(
        first: Int64, count: Int, now: ContinuousClock.Instant = .now, build: @escaping @Sendable () -> [RecordedEvent]
    ) {
        guard count > 0 else { return }
        state.withLock { state in
            if let end = state.last, end + 1 == first {
                state.unbuilt.append(Unbuilt(first: first, count: count, build: build))
            } else {
                state.reset()
                state.unbuilt = [Unbuilt(first: first, count: count, build: build)]
            }
            state.batches.append((first + Int64(count) - 1, now))
            state.expire(before: now - maxAge)
            state.trim(to: capacity)
            state.head = Swift.max(state.head, first + Int64(count) - 1)
        }
    }

    /// The newest position known to be committed anywhere.
    var head: Int64 { state.withLock { $0.head } }

    /// The log is known to reach `position` (a commit here or a notification from anywhere).
    func noteHead(_ position: Int64) {
        state.withLock { $0.head = Swift.max($0.head, position) }
    }

    /// What `EventStore.read(after:limit:filter:)` would return, or `nil` when the run cannot
    /// say: it starts after `position + 1`, or something newer than the run was committed.
    func read(after position: Int64, limit: Int, filter: EventFilter) -> [RecordedEvent]? {
        page(after: position, limit: limit, filter: filter)?.events
    }

    /// `read`, and how far the page looked: the last event's position when the page is full,
    /// else the end of the run (nothing between the page's events and it passes the filter).
    func page(after position: Int64, limit: Int, filter: EventFilter) -> (events: [RecordedEvent], through: Int64)? {
        state.withLock { state -> (events: [RecordedEvent], through: Int64)? in
            guard let first = state.first, let last = state.last, first <= position + 1, last >= state.head else { return nil }
            var page: [RecordedEvent] = []
            guard position < last else {
                state.hits += 1
                return (page, position)
            }
            for segment in state.unbuilt {
                let events = segment.build()
                // A batch that does not build as announced ends the run here.
                guard events.count == segment.count, events.first?.position == segment.first else {
                    state.reset()
                    return nil
                }
                state.events.append(contentsOf: events)
            }
            state.unbuilt = []
            state.hits += 1
            let run = state.built
            guard let builtFirst = run.first?.position else { return (page, position) }
            let from = run.startIndex + Int(position + 1 - builtFirst)
            for event in run[from...] where filter.matches(event) {
                page.append(event)
                if page.count >= limit { return (page, event.position) }
            }
            return (page, last)
        }
    }
}

extension EventFilter {
    /// The same test as the SQL of `EventStore.read`: the exact stream, a byte-wise prefix (stream ids are ASCII and
    /// collate "C"), any of the types, `since` inclusive and `until` exclusive, the actor's kind (and
    /// id), the correlation id.
    func matches(_ event: RecordedEvent) -> Bool {
        if let stream, event.streamId != stream { return false }
        if let prefix = streamPrefix, !event.streamId.utf8.starts(with: prefix.utf8) { return false }
        if let toPosition, event.position > toPosition { return false }
        if let types, !types.contains(event.eventType) { return false }
        if let since, event.recordedAt < since { return false }
        if let until, event.recordedAt >= until { return false }
        if let actor {
            let parts = actor.split(separator: ":", maxSplits: 1)
            if event.metadata.actor.kind.rawValue != parts.first.map(String.init) { return false }
            if parts.count > 1, event.metadata.actor.id != String(parts[1]) { return false }
        }
        if let correlationId, event.metadata.correlationId != correlationId { return false }
        if let causationId, event.metadata.causationId != causationId { return false }
        return true
    }
}
