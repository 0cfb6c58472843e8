import EventStore
import Foundation
import TestSupport
import Testing

/// `streamd serve` as a user runs it, with the real ffmpeg publishing to it.
@Suite struct ServeTests {
    @Test(.timeLimit(.minutes(2))) func publishToTheServerBinaryIsRecordedAndShutdownEndsIt() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("serve-test")

        let publish = try await server.publish(key: key, seconds: 4, size: "320x180")
        #expect(publish.status == 0, "\(publish.output)")
        let streams = try await server.admin("GET", "/v1/streams")
        #expect(streams.status == 200)
        #expect(streams.text.contains(#""channelName":"serve-test""#), "the session waits out its reconnect grace: \(streams.text)")

        let (exit, output) = try await server.stop()
        stopped = true
        #expect(exit == 0, "\(output.suffix(800))")
        #expect(output.contains("RTMP ingest: rtmp://127.0.0.1:\(server.rtmp)/live/<stream key>"))

        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        let types = try await store.read(after: 0, limit: 10_000).map(\.eventType)
        #expect(types.first == "AdminAdded", "the first-start token is recorded as the admin `admin`")
        #expect(types.filter { $0 != "NodeStarted" }.prefix(2) == ["AdminAdded", "ChannelCreated"], "\(types.prefix(4))")
        #expect(types.filter { $0 == "NodeStarted" }.count == 1 && types.last == "NodeStopped", "the node joined once and left")
        #expect(types.contains("StreamStarted"))
        // Statistics go in windows of 10 s; the one in progress is closed when the encoder leaves.
        #expect(
            types.firstIndex(of: "IngestStatsSampled").map { $0 < (types.firstIndex(of: "StreamEnded") ?? -1) } == true,
            "the session's statistics are logged before it ends")
        #expect(types.contains("StreamEnded"), "graceful shutdown ends the session in the log")
        #expect(
            types.firstIndex(of: "StreamEnded").map { $0 < (types.lastIndex(of: "RecordingFinalized") ?? -1) } == true,
            "the recording is finalized after the session ends: \(types.suffix(12))")
        #expect(try await HashChainVerifier(store: store).verify() == .verified(count: Int64(types.count)))
    }
}
