import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Ingest
import Node
import TestSupport
import Testing

/// Ingest wired to the event log and the channels read model, with the real ffmpeg publishing.
@Suite struct PlatformTests {
    @Test(.timeLimit(.minutes(2))) func publishIsRecordedListedAndEndedByRevocation() async throws {
        let store = try await TestDatabase.makeStore("platform", registry: .platform)
        defer { Task { await store.shutdown() } }
        let platform = try await Platform(
            store: store, configuration: GatewayConfiguration(host: "127.0.0.1", adminToken: "t", rtmpPort: 0, srtPort: 0),
            media: .init(directory: FileManager.default.temporaryDirectory.appendingPathComponent("streamd-platform-\(UUID())")),
            logger: TestDatabase.logger)
        platform.start()
        defer { Task { await platform.shutdown() } }
        let (channel, key) = try await platform.channels.create(name: "demo", metadata: EventMetadata(actor: .admin))

        func publish(_ key: String, seconds: Int) async throws -> (status: Int32, output: String) {
            try await Subprocess.runDetached(
                "/usr/bin/ffmpeg",
                [
                    "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "\(seconds)",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-c:a", "aac", "-f", "flv",
                    "rtmp://127.0.0.1:\(platform.rtmpPort)/live/\(key)",
                ])
        }

        // A wrong key is refused before any media, visibly to the encoder and in the log.
        let refused = try await publish("sk_wrong", seconds: 2)
        #expect(refused.status != 0)
        #expect(refused.output.lowercased().contains("key"), "ffmpeg shows why: \(refused.output)")
        #expect(try await waitForEvent(store, type: "PublishRejected") != nil)

        async let publishing = publish(key.text, seconds: 30)
        let deadline = ContinuousClock.now + .seconds(20)
        var live: [LiveSessionSummary] = []
        while live.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            live = await platform.rtmp.registry.list()
        }
        #expect(live.map(\.channelName) == ["demo"])

        let app = Application(router: platform.gateway.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/streams", method: .get, headers: [.authorization: "Bearer t"]) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""channelName":"demo""#))
            }
            try await client.execute(uri: "/v1/streams/\(UUID())", method: .delete, headers: [.authorization: "Bearer t"]) { response in
                #expect(response.status == .notFound)
            }
        }
        try await Task.sleep(for: .seconds(2))

        // Revoking the key (as the CLI or another node would: through the log) ends the session.
        try await platform.channels.revokeKey(name: "demo", metadata: EventMetadata(actor: .admin, reason: "test"))
        let ended = try await waitForEvent(store, type: "StreamEnded")
        #expect(ended?.dataText.contains("kicked") == true, "\(ended?.dataText ?? "no StreamEnded")")
        let ffmpeg = try await publishing
        #expect(ffmpeg.status != 0, "ffmpeg was cut off")

        let types = Set(try await store.read(after: 0, limit: 10_000).map(\.eventType))
        #expect(types.isSuperset(of: ["StreamStarted", "IngestStatsSampled", "StreamEnded", "PublishRejected"]))
        let started = try await store.read(after: 0, filter: EventFilter(types: ["StreamStarted"]))
        #expect(started.first?.dataText.contains(channel.id.uuidString.lowercased()) == true)
        // The pipeline may still be appending (segments, the finalized recording): the chain must
        // verify over whatever the log holds now.
        let verified = try await HashChainVerifier(store: store).verify()
        if case .verified = verified {} else { Issue.record("hash chain: \(verified)") }
    }

    func waitForEvent(_ store: EventStore, type: String) async throws -> RecordedEvent? {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if let event = try await store.read(after: 0, filter: EventFilter(types: [type])).first { return event }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }
}
