import CoreMetrics

/// The event log's figures for `/metrics`. Recorded through swift-metrics, so they cost nothing
/// until the process bootstraps a backend (`streamd serve` does).
public enum EventLogMetrics {
    public static let appendSeconds = "streamd_eventlog_append_seconds"
    public static let batchEvents = "streamd_eventlog_batch_events"
    public static let pendingAppends = "streamd_eventlog_pending_appends"
    public static let databaseUp = "streamd_eventlog_database_up"
    public static let spoolBytes = "streamd_eventlog_spool_bytes"
    public static let spooledEvents = "streamd_eventlog_spooled_events_total"
    public static let replayedEvents = "streamd_eventlog_spool_replayed_events_total"
    public static let spoolRefusals = "streamd_eventlog_spool_refused_appends_total"

    /// Help text of each name, for the exposition (swift-metrics carries none).
    public static let help: [String: String] = [
        appendSeconds: "Time from an append's submission to its commit (group commit included), per append.",
        batchEvents: "Events written per group-commit transaction.",
        pendingAppends: "Appends queued for the group committer after it took its last batch.",
        databaseUp: "1 while appends reach the database, 0 while they go to the local spool.",
        spoolBytes: "Bytes in the local spool not yet replayed into the log.",
        spooledEvents: "Events written to the local spool while the database was away.",
        replayedEvents: "Spooled events replayed into the log once the database was back.",
        spoolRefusals: "Appends lost because the spool was full or could not be written.",
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
    private static let upGauge = Gauge(label: databaseUp)
    private static let spoolGauge = Gauge(label: spoolBytes)
    private static let spooledCounter = Counter(label: spooledEvents)
    private static let replayedCounter = Counter(label: replayedEvents)
    private static let refusedCounter = Counter(label: spoolRefusals)

    static func databaseUp(_ up: Bool) { upGauge.record(up ? 1 : 0) }

    static func spooled(events: Int, bytes: Int) {
        spooledCounter.increment(by: events)
        spoolGauge.record(bytes)
    }

    static func replayed(events: Int, bytesLeft: Int) {
        replayedCounter.increment(by: events)
        spoolGauge.record(bytesLeft)
    }

    static func spoolRefused() { refusedCounter.increment() }

    static func batch(events: Int, pendingAfter: Int) {
        batchRecorder.record(events)
        pendingGauge.record(pendingAfter)
    }

    static func appended(after duration: Duration) {
        let (seconds, attoseconds) = duration.components
        appendTimer.recordSeconds(Double(seconds) + Double(attoseconds) / 1e18)
    }
}
