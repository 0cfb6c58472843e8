import CoreMetrics

/// The packager's figures for `/metrics`, through swift-metrics (no-ops until a backend is
/// bootstrapped).
public enum PackagerMetrics {
    public static let partDelay = "streamd_packager_part_delay_seconds"
    public static let partInterval = "streamd_packager_part_interval_seconds"
    public static let segments = "streamd_packager_segments_total"
    public static let segmentGaps = "streamd_packager_segment_gaps_total"

    public static let help: [String: String] = [
        partDelay:
            "Wall-clock time from the end of a part's media (on the stream's clock, anchored when it started) to the part's publication.",
        partInterval: "Wall-clock time between two consecutive parts of a rendition; above the part target it is a stall a player sees.",
        segments: "Segments published, per channel and rendition.",
        segmentGaps:
            "Breaks in a rendition's segments: discontinuities (timestamps restarted) and segments listed over the target duration.",
    ]
    public static let buckets: [String: [Double]] = [
        partDelay: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10],
        partInterval: [0.1, 0.25, 0.5, 0.6, 0.75, 1, 1.5, 2, 3, 5],
    ]

    /// One rendition's instruments.
    struct Rendition: Sendable {
        let delay = Timer(label: partDelay)
        let interval = Timer(label: partInterval)
        let segments: Counter
        let discontinuities: Counter
        let overlong: Counter

        init(channel: String, rendition: String) {
            segments = Counter(label: PackagerMetrics.segments, dimensions: [("channel", channel), ("rendition", rendition)])
            discontinuities = Counter(label: segmentGaps, dimensions: [("channel", channel), ("reason", "discontinuity")])
            overlong = Counter(label: segmentGaps, dimensions: [("channel", channel), ("reason", "over_target")])
        }
    }
}
