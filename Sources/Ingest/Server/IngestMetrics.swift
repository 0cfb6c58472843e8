import CoreMetrics

/// Ingest's figures for `/metrics`, through swift-metrics (no-ops until a backend is bootstrapped).
/// Per-channel gauges (bitrate, frame rate, sessions) are read from the session registry when
/// scraped; the counters here add up what the samples and refusals saw.
public enum IngestMetrics {
    public static let receivedBytes = "streamd_ingest_received_bytes_total"
    public static let frames = "streamd_ingest_frames_total"
    public static let droppedFrames = "streamd_ingest_dropped_frames_total"
    public static let lateFrames = "streamd_ingest_late_frames_total"
    public static let refusals = "streamd_ingest_publish_refusals_total"

    public static let help: [String: String] = [
        receivedBytes: "Bytes received from publishing encoders, by protocol.",
        frames: "Media frames received from publishing encoders, by protocol and track.",
        droppedFrames: "Received frames dropped before the transcoder (before their sequence header, or with no consumer left).",
        lateFrames: "Received frames whose timestamp went backwards on their track.",
        refusals: "Publishes refused, by protocol and reason (recorded or only counted in a summary).",
    ]

    static func sampled(_ stats: IngestStats, newBytes: UInt64, protocol name: String) {
        let seconds = stats.intervalSeconds
        Counter(label: receivedBytes, dimensions: [("protocol", name)]).increment(by: Int64(clamping: newBytes))
        Counter(label: frames, dimensions: [("protocol", name), ("track", "video")])
            .increment(by: Int64((stats.videoFrameRate * seconds).rounded()))
        Counter(label: frames, dimensions: [("protocol", name), ("track", "audio")])
            .increment(by: Int64((stats.audioFrameRate * seconds).rounded()))
        if stats.droppedFrames > 0 {
            Counter(label: droppedFrames, dimensions: [("protocol", name)]).increment(by: Int64(stats.droppedFrames))
        }
        if stats.lateFrames > 0 {
            Counter(label: lateFrames, dimensions: [("protocol", name)]).increment(by: Int64(stats.lateFrames))
        }
    }

    static func refused(reason: String, protocol name: String) {
        Counter(label: refusals, dimensions: [("protocol", name), ("reason", reason)]).increment()
    }
}
