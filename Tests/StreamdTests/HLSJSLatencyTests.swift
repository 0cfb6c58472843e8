import EventStore
import Foundation
import TestSupport
import Testing

/// hls.js 1.6 in low-latency mode plays a live stream in headless Chromium through the page of
/// `ops/bench/hlsjs-latency` (`ops/bench/llhls/hlsjs_latency.py play`). What it asserts is
/// behaviour; how far behind live it plays is the benchmark's to measure. Its page, report and
/// screenshot go to `$STREAMD_ARTIFACTS/hlsjs-latency` (default `.build/artifacts/hlsjs-latency`).
@Suite struct HLSJSLatencyTests {
    static var artifacts: String { ConsoleBrowserTests.artifactsRoot + "/hlsjs-latency" }

    /// Only the source rendition: a rung taller than the source is skipped.
    static let ladder = """
        {"rungs":[{"name":"2160p","height":2160,"frameRate":30,"bitrate":20000000,"profile":"main","priority":0}],
         "audio":{"bitrate":128000,"sampleRate":48000,"channels":2},"preset":"ultrafast","keyframeInterval":2,
         "maxPassthroughKeyframeInterval":2,"allowsPassthrough":true}
        """

    @Test(.timeLimit(.minutes(4))) func hlsJSPlaysInLowLatencyModeWithPartsBlockingReloadsAndDeltaUpdates() async throws {
        try ConsoleBrowserTests.requireSelenium()

        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("hlsjs-latency")
        let configured = try await server.admin("PUT", "/v1/channels/hlsjs-latency/ladder", body: Self.ladder)
        #expect(configured.status == 200, "\(configured.text)")
        let publisher = try server.startPublishing(key: key, seconds: 120)
        defer { _ = publisher.stop(signal: SIGKILL) }
        _ = try await poll("the multivariant playlist", seconds: 30) { () -> Bool? in
            try await server.get("/live/hlsjs-latency/index.m3u8").status == 200 ? true : nil
        }

        let (figures, line) = try await Players.hlsJSPlays(
            "\(server.base)/live/hlsjs-latency/index.m3u8", seconds: 20, warmup: 6, artifacts: Self.artifacts)
        print(
            "hls.js latency (behaviour only; figures from ops/bench/hlsjs-latency): hls.latency p50 \(figures["latencyMedian"] ?? "-") s, "
                + "wall clock - PROGRAM-DATE-TIME p50 \(figures["behindMedian"] ?? "-") s; \(line)")

        #expect(figures["version"] as? String == "1.6.15", "\(line)")
        #expect(figures["lowLatencyMode"] as? Bool == true, "\(line)")
        #expect((figures["fatal"] as? [Any])?.isEmpty == true, "hls.js fatal errors: \(line)")
        #expect((figures["partLoads"] as? Int ?? 0) > 0, "hls.js loaded no parts: \(line)")
        #expect((figures["blockingReloads"] as? Int ?? 0) > 0, "hls.js made no blocking playlist reloads (_HLS_msn): \(line)")
        #expect((figures["skipRequests"] as? Int ?? 0) > 0, "hls.js asked for no delta playlist (_HLS_skip): \(line)")
        #expect((figures["deltaUpdates"] as? Int ?? 0) > 0, "no delta playlist skipped segments: \(line)")
        // Stalls are the benchmark's figure (none, clean or at 1 % loss); here, with the rest of the
        // suite loading both cores, a stall is allowed but playback must go on through the window.
        let played = figures["playedInWindow"] as? Double ?? 0
        let sampled = figures["sampledInWindow"] as? Double ?? 0
        #expect(
            sampled > 10 && played >= 0.75 * sampled,
            "hls.js did not keep playing through the window\(Players.hlsJSDeadlockNote(figures)): \(line)")
        for name in ["latencyMedian", "latencyP90", "behindMedian", "behindP90"] {
            let value = figures[name] as? Double
            #expect(value.map { $0.isFinite && $0 > 0 } == true, "\(name) is not a finite positive figure: \(line)")
        }
        #expect(FileManager.default.fileExists(atPath: "\(Self.artifacts)/hlsjs-latency.png"), "no screenshot")
    }
}
