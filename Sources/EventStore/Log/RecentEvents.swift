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
    struct State {
        /// `events[start...]` is the run, in position order.
        var events: [RecordedEvent] = []
        var start = 0
        /// The newest position known to be committed anywhere.
        var head: Int64 = 0
        var hits = 0

        var run: ArraySlice<RecordedEvent> { events[start...] }
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 8_192) {
        self.capacity = Swift.max(1, capacity)
    }

    /// Reads it answered.
    var hits: Int { state.withLock { $0.hits } }

    /// A batch this node committed, in position order.
    func committed(_ batch: [RecordedEvent]) {
        guard let first = batch.first, let last = batch.last else { return }
        state.withLock { state in
            if let end = state.run.last?.position, end + 1 == first.position {
                state.events.append(contentsOf: batch)
            } else {
                state.events = batch
                state.start = 0
            }
            let excess = state.events.count - state.start - capacity
            if excess > 0 { state.start += excess }
            // Compact once the dropped prefix outweighs the run, so appends stay amortised O(1).
            if state.start > capacity {
                state.events.removeFirst(state.start)
                state.start = 0
            }
            state.head = Swift.max(state.head, last.position)
        }
    }

    /// The log is known to reach `position` (a commit here or a notification from anywhere).
    func noteHead(_ position: Int64) {
        state.withLock { $0.head = Swift.max($0.head, position) }
    }

    /// What `EventStore.read(after:limit:filter:)` would return, or `nil` when the run cannot
    /// say: it starts after `position + 1`, or something newer than the run was committed.
    func read(after position: Int64, limit: Int, filter: EventFilter) -> [RecordedEvent]? {
        state.withLock { state -> [RecordedEvent]? in
            let run = state.run
            guard let first = run.first?.position, let last = run.last?.position,
                  first <= position + 1, last >= state.head else { return nil }
            state.hits += 1
            var page: [RecordedEvent] = []
            guard position < last else { return page }
            let from = run.startIndex + Int(position + 1 - first)
            for event in run[from...] where filter.matches(event) {
                page.append(event)
                if page.count >= limit { break }
            }
            return page
        }
    }
}

extension EventFilter {
    /// The same test as the SQL of `EventStore.read`: a byte-wise prefix (stream ids are ASCII and
    /// collate "C"), any of the types, `since` inclusive and `until` exclusive.
    func matches(_ event: RecordedEvent) -> Bool {
        if let prefix = streamPrefix, !event.streamId.utf8.starts(with: prefix.utf8) { return false }
        if let types, !types.contains(event.eventType) { return false }
        if let since, event.recordedAt < since { return false }
        if let until, event.recordedAt >= until { return false }
        return true
    }
}
