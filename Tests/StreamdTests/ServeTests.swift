import EventStore
import Foundation
import Testing
import TestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `streamd serve` as a user runs it, with the real ffmpeg publishing to it.
@Suite struct ServeTests {
    func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func request(_ method: String, _ url: String, token: String?, body: String? = nil) async throws -> (Int, String) {
        guard let target = URL(string: url) else { throw TestSupportError("bad URL \(url)") }
        var request = URLRequest(url: target)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        request.httpBody = body.map { Data($0.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test(.timeLimit(.minutes(2))) func publishToTheServerBinaryIsRecordedAndShutdownEndsIt() async throws {
        let database = try await TestDatabase.freshDatabase("serve")
        let dataDir = NSTemporaryDirectory() + "streamd-serve-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let (http, rtmp) = (try freePort(), try freePort())
        let server = try Subprocess.start(try Binaries.streamd(), [
            "serve", "--database-url", database.urlString, "--data-dir", dataDir, "--host", "127.0.0.1",
            "--http-port", "\(http)", "--rtmp-port", "\(rtmp)", "--srt-port", "0", "--admin-token", "serve-test",
        ])
        var stopped = false
        defer { if !stopped { _ = server.stop(signal: SIGKILL) } }

        let base = "http://127.0.0.1:\(http)"
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? await request("GET", base + "/healthz", token: nil).0) != 200 {
            guard ContinuousClock.now < deadline else { Issue.record("serve did not come up"); return }
            try await Task.sleep(for: .milliseconds(200))
        }
        let (status, body) = try await request("POST", base + "/v1/channels", token: "serve-test", body: #"{"name":"serve-test"}"#)
        #expect(status == 201)
        let key = try JSONDecoder().decode([String: String].self, from: Data(body.utf8))["streamKey"] ?? ""

        let publish = try await Subprocess.runDetached("/usr/bin/ffmpeg", [
            "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
            "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "60",
            "-c:a", "aac", "-f", "flv", "rtmp://127.0.0.1:\(rtmp)/live/\(key)",
        ])
        #expect(publish.status == 0, "\(publish.output)")
        let (listed, streams) = try await request("GET", base + "/v1/streams", token: "serve-test")
        #expect(listed == 200)
        #expect(streams.contains(#""channelName":"serve-test""#), "the session waits out its reconnect grace: \(streams)")

        let (exit, output) = try await onThread { server.stop(signal: SIGTERM) }
        stopped = true
        #expect(exit == 0, "\(output.suffix(800))")
        #expect(output.contains("RTMP ingest: rtmp://127.0.0.1:\(rtmp)/live/<stream key>"))

        let store = try await EventStore.open(url: database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        let types = try await store.read(after: 0, limit: 10_000).map(\.eventType)
        #expect(types.first == "ChannelCreated")
        #expect(types.contains("StreamStarted"))
        #expect(types.filter { $0 == "IngestStatsSampled" }.count >= 2)
        #expect(types.last == "StreamEnded", "graceful shutdown ends the session in the log")
        #expect(try await HashChainVerifier(store: store).verify() == .verified(count: Int64(types.count)))
    }
}
