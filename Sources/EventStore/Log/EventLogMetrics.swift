import CoreMetrics

/// The event log's figures for `/metrics`. Recorded through swift-metrics, so they cost nothing
/// until the process bootstraps a backend (`streamd serve` does).
public enum EventLogMetrics {
    public static let appendSeconds = "streamd_eventlog_append_seconds"
    public static let batchEvents = "streamd_eventlog_batch_events"
    public static let pendingAppends = "streamd_eventlog_pending_appends"

    /// Help text of each name, for the exposition (swift-metrics carries none).
    public static let help: [String: String] = [
        appendSeconds: "Time from an append's submission to its commit (group commit included), per append.",
        batchEvents: "Events written per group-commit transaction.",
        pendingAppends: "Appends queued for the group committer after it took its last batch.",
    ]
    /// Histogram buckets, in the metric's unit.
    public static let buckets: [String: [Double]] = [
        appendSeconds: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
        batchEvents: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000],
    ]

    // Made on first use: `serve` bootstraps the backend before anything appends.
    private static let batchRecorder = Recorder(label: batchEvents)
    private static let pendingGauge = Gauge(label: pendingAppends)
    private static let appendTimer = Timer(label: appendSeconds)

    static func batch(events: Int, pendingAfter: Int) {
        batchRecorder.record(events)
        pendingGauge.record(pendingAfter)
    }

    static func appended(after duration: Duration) {
        let (seconds, attoseconds) = duration.components
        appendTimer.recordSeconds(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
