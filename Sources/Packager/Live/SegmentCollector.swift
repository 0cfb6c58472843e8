import Foundation

/// Gathers the ladder's renditions of each segment into one `SegmentPublished` (a pure value; the
/// `StreamPackager` feeds it the one-rendition events its renditions report, in arrival order).
///
/// Renditions finish segment N at slightly different moments (each cuts its own packets, audio on
/// its own grid). Segment N's event goes out once every rendition that is expected has reported N
/// (those started and on: `expected`), or once N has waited `deadline` since its first
/// report; either way every pending segment before N goes out first, so the log lists segments in
/// order. A report for a segment already gone out goes out alone at once. `flush()` (the session's
/// last segment, or any other packager event, such as `RecordingFinalized`) sends everything
/// pending, so no segment is lost at the end.
struct SegmentCollector: Sendable {
    let deadline: Duration
    private var pending: [Int: (event: SegmentPublished, opened: ContinuousClock.Instant)] = [:]
    /// The highest sequence that has gone out.
    private var sent: Int?

    init(deadline: Duration) {
        self.deadline = deadline
    }

    var pendingSequences: [Int] { pending.keys.sorted() }

    /// Adds one rendition's report; returns the events now complete, in order.
    mutating func add(_ report: SegmentPublished, expected: Set<String>, now: ContinuousClock.Instant) -> [SegmentPublished] {
        let sequence = report.mediaSequence
        if let sent, sequence <= sent { return [report] + expire(now: now) }
        if var entry = pending[sequence] {
            for rendition in report.renditions {
                entry.event.renditions.removeAll { $0.rendition == rendition.rendition }
                entry.event.renditions.append(rendition)
            }
            pending[sequence] = entry
        } else {
            pending[sequence] = (report, now)
        }
        let reported = Set(pending[sequence]?.event.renditions.map(\.rendition) ?? [])
        if expected.isSubset(of: reported) { return release(through: sequence) + expire(now: now) }
        return expire(now: now)
    }

    /// The segments that have waited their deadline (and every one before them).
    mutating func expire(now: ContinuousClock.Instant) -> [SegmentPublished] {
        guard let last = pending.filter({ now - $0.value.opened >= deadline }).keys.max() else { return [] }
        return release(through: last)
    }

    /// Everything pending, in order.
    mutating func flush() -> [SegmentPublished] {
        guard let last = pending.keys.max() else { return [] }
        return release(through: last)
    }

    private mutating func release(through sequence: Int) -> [SegmentPublished] {
        let due = pending.keys.filter { $0 <= sequence }.sorted()
        var out: [SegmentPublished] = []
        for key in due {
            guard var event = pending.removeValue(forKey: key)?.event else { continue }
            event.renditions.sort { ($0.kind.rawValue, $0.rendition) < ($1.kind.rawValue, $1.rendition) }
            out.append(event)
        }
        sent = Swift.max(sent ?? sequence, sequence)
        return out
    }
}
