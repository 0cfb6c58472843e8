import CoreMetrics
import EventStore
import Media

/// The transcoder's figures for `/metrics`, through swift-metrics (no-ops until a backend is
/// bootstrapped).
public enum TranscodeMetrics {
    public static let encodedFrames = "streamd_transcode_encoded_frames_total"
    public static let encodeSeconds = "streamd_transcode_encode_seconds"
    public static let queuedFrames = "streamd_transcode_queued_frames"
    public static let backlogSeconds = "streamd_transcode_backlog_seconds"
    public static let renditionStops = "streamd_transcode_rendition_stops_total"
    public static let failures = "streamd_transcode_failures_total"

    public static let help: [String: String] = [
        encodedFrames: "Frames encoded per rung (rate() of it is the rung's frame rate).",
        encodeSeconds: "Time to scale and encode one frame, per rendition.",
        queuedFrames: "Decoded frames waiting for a rung's encoder.",
        backlogSeconds: "Media time waiting for a rung's encoder (its encode lag behind the source).",
        renditionStops: "Renditions stopped, by reason (overload stops included).",
        failures: "Transcodes that failed, by stage.",
    ]
    public static let buckets: [String: [Double]] = [
        encodeSeconds: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.033, 0.05, 0.1, 0.25, 0.5]
    ]

    /// One rung's instruments, made when the rung starts.
    struct Rung: Sendable {
        let frames: Counter
        let encode: Timer
        let queued: Gauge
        let backlog: Gauge

        init(channel: String, rendition: String) {
            let dimensions = [("channel", channel), ("rendition", rendition)]
            frames = Counter(label: encodedFrames, dimensions: dimensions)
            encode = Timer(label: encodeSeconds, dimensions: [("rendition", rendition)])
            queued = Gauge(label: queuedFrames, dimensions: dimensions)
            backlog = Gauge(label: backlogSeconds, dimensions: dimensions)
        }

        func stopped() {
            queued.record(0)
            backlog.record(0)
        }
    }

    static func record(_ event: any DomainEvent) {
        if let stopped = event as? RenditionStopped {
            Counter(label: renditionStops, dimensions: [("reason", stopped.reason.rawValue)]).increment()
        } else if let failed = event as? TranscodeFailed {
            Counter(label: failures, dimensions: [("stage", failed.stage)]).increment()
        }
    }
}
