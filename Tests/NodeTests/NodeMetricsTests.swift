import CoreMetrics
import Foundation
import Testing

@testable import Node

/// The metrics backend on a registry of its own (nothing bootstrapped process-wide).
@Suite struct NodeMetricsTests {
    @Test func everyCataloguedFamilyRendersWithItsHelpAndBuckets() throws {
        let metrics = NodeMetrics()
        let factory = metrics.factory
        for name in NodeMetrics.help.keys { #expect(!(NodeMetrics.help[name] ?? "").isEmpty, "\(name) has no help text") }

        Counter(label: "streamd_ingest_frames_total", dimensions: [("protocol", "rtmp"), ("track", "video")], factory: factory)
            .increment(by: 30)
        Timer(label: "streamd_packager_part_interval_seconds", factory: factory).recordSeconds(0.55)
        Recorder(label: "streamd_eventlog_batch_events", factory: factory).record(7)
        CoreMetrics.Gauge(label: "streamd_eventlog_pending_appends", factory: factory).record(3)
        // The same name and labels again is the same series, not a second one.
        Counter(label: "streamd_ingest_frames_total", dimensions: [("protocol", "rtmp"), ("track", "video")], factory: factory).increment()

        let text = String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains("# HELP streamd_ingest_frames_total Media frames received"), "\(text)")
        #expect(text.contains(#"streamd_ingest_frames_total{protocol="rtmp",track="video"} 31"#), "\(text)")
        #expect(text.contains("# TYPE streamd_packager_part_interval_seconds histogram"), "\(text)")
        #expect(text.contains(#"streamd_packager_part_interval_seconds_bucket{le="0.6"} 1"#), "\(text)")
        #expect(text.contains(#"streamd_packager_part_interval_seconds_bucket{le="0.5"} 0"#), "\(text)")
        #expect(text.contains(#"streamd_eventlog_batch_events_bucket{le="10.0"} 1"#), "\(text)")
        #expect(text.contains("streamd_eventlog_pending_appends 3"), "\(text)")
        #expect(!text.contains("# HELP streamd_ingest_frames_total streamd_ingest_frames_total"))
    }

    @Test func aDestroyedGaugeLeavesTheExposition() {
        let metrics = NodeMetrics()
        let gauge = CoreMetrics.Gauge(
            label: "streamd_ingest_received_bytes_per_second", dimensions: [("channel", "gone"), ("protocol", "rtmp")],
            factory: metrics.factory)
        gauge.record(1000)
        #expect(String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self).contains(#"channel="gone""#))
        gauge.destroy()
        #expect(!String(decoding: metrics.registry.emitToBuffer(), as: UTF8.self).contains(#"channel="gone""#))
    }

    @Test func processFiguresComeFromProcfs() {
        let figures = Dictionary(ProcessFigures.read(), uniquingKeysWith: { $1 })
        #expect((figures[NodeMetrics.residentMemory] ?? 0) > 1_000_000)
        #expect((figures[NodeMetrics.openFDs] ?? 0) >= 3)
        #expect((figures[NodeMetrics.threads] ?? 0) >= 1)
    }
}
