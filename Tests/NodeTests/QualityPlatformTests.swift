import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Ingest
import Node
import TestSupport
import Testing
import Transcode

/// The platform runs the quality projection: a real RTMP publish gets a health score and a state in
/// `GET /v1/streams`, from samples whose timestamp lag the ingest measured.
@Suite struct QualityPlatformTests {
    @Test(.timeLimit(.minutes(2))) func liveSessionsShowHealthAndQuality() async throws {
        let store = try await TestDatabase.makeStore("qualityplatform", registry: .platform)
        let platform: Platform
        do {
            platform = try await Platform(
                store: store, configuration: GatewayConfiguration(host: "127.0.0.1", adminToken: "t", rtmpPort: 0, srtPort: 0),
                media: .init(directory: FileManager.default.temporaryDirectory.appendingPathComponent("streamd-quality-\(UUID())")),
                logger: TestDatabase.logger)
        } catch {
            await store.shutdown()
            throw error
        }
        platform.start()
        // In this order: the platform's watchers must stop reading before the store closes.
        defer {
            Task {
                await platform.shutdown(); await store.shutdown()
            }
        }
        let (_, key) = try await platform.channels.create(name: "quality", metadata: EventMetadata(actor: .admin))

        async let publishing = Subprocess.runDetached(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "12",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-c:a", "aac", "-f", "flv",
                "rtmp://127.0.0.1:\(platform.rtmpPort)/live/\(key.text)",
            ])

        let app = Application(router: platform.gateway.router())
        let deadline = ContinuousClock.now + .seconds(30)
        let body = try await app.test(.router) { client in
            var body = ""
            while !body.contains(#""health""#), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(500))
                body = try await client.execute(uri: "/v1/streams", method: .get, headers: [.authorization: "Bearer t"]) { response in
                    String(buffer: response.body)
                }
            }
            return body
        }
        #expect(body.contains(#""quality":"HIGH""#), "\(body)")
        #expect(body.contains(#""health":"#), "\(body)")
        // One event per window (10 s, the last closed at the end): wait for 3 intervals in all.
        var intervals: [IngestStats] = []
        while intervals.count < 3, ContinuousClock.now < deadline + .seconds(10) {
            try await Task.sleep(for: .milliseconds(500))
            let sampled = try await store.read(after: 0, limit: 100, filter: EventFilter(types: [IngestStatsSampled.eventType]))
            intervals = try sampled.flatMap { try store.registry.decode($0, as: IngestStatsSampled.self).intervals }
        }
        let lags = intervals.map(\.timestampLagMilliseconds)
        #expect(!lags.isEmpty && lags.allSatisfy { $0 != nil }, "\(lags)")
        _ = try await publishing
    }
}
