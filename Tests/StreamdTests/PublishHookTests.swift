import EventStore
import Foundation
import TestSupport
import Testing

/// `serve --publish-hook` against a real HTTP server (`Fixtures/publish_hook.py`): asked after
/// the key and before the session, over RTMP and SRT; its yes lets ffmpeg go live, its no refuses
/// with its reason in `PublishRejected`, and silence past the timeout or an error gets the default.
@Suite struct PublishHookTests {
    static let hook = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/publish_hook.py").path

    @Test(.timeLimit(.minutes(3))) func theHookAdmitsOrRefusesEachPublishAndSilenceIsRefused() async throws {
        let log = NSTemporaryDirectory() + "streamd-hook-\(UUID().uuidString.prefix(8)).jsonl"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let port = try StreamdServer.freePort()
        let hook = try Subprocess.start("/usr/bin/env", ["python3", Self.hook, "\(port)", log])
        defer { _ = hook.stop(signal: SIGKILL) }
        let server = try await StreamdServer(extra: [
            "--publish-hook", "http://127.0.0.1:\(port)/admit", "--publish-hook-timeout-ms", "800",
        ])
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        _ = try await poll("the hook to listen", seconds: 10) { () -> Bool? in
            (try? await StreamdServer.request("POST", "http://127.0.0.1:\(port)/admit", body: #"{"channelName":"probe"}"#))?.status
                == 200 ? true : nil
        }
        var keys: [String: String] = [:]
        for name in ["allowed", "denied", "slow", "broken"] { keys[name] = try await server.createChannel(name) }

        let allowed = try await server.publish(key: keys["allowed"] ?? "", seconds: 3, size: "320x180")
        #expect(allowed.status == 0, "\(allowed.output)")
        for name in ["denied", "slow", "broken"] {
            let refused = try await server.publish(key: keys[name] ?? "", seconds: 3, size: "320x180")
            #expect(refused.status != 0, "\(name): \(refused.output)")
        }
        let srt = try await Subprocess.runDetached(
            "/usr/bin/ffmpeg", server.srtPublishArguments(key: keys["denied"] ?? "", seconds: 3, size: "320x180"))
        #expect(srt.status != 0, "\(srt.output)")
        let unknown = try await server.publish(key: "sk_" + String(repeating: "x", count: 43), seconds: 2, size: "320x180")
        #expect(unknown.status != 0)

        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        let events = try await poll("the refusals in the log", seconds: 20) { () -> [RecordedEvent]? in
            let events = try await store.read(after: 0, limit: 10_000)
            return events.filter { $0.eventType == "PublishRejected" && $0.dataText.contains("admission_refused") }.count >= 4
                ? events : nil
        }
        func refusals(_ channel: String) -> [String] {
            events.filter { $0.eventType == "PublishRejected" && $0.streamId == "channel-\(channel)" }.map(\.dataText)
        }
        #expect(events.contains { $0.eventType == "StreamStarted" && $0.dataText.contains(#""channelName":"allowed""#) })
        #expect(
            refusals("denied").count == 2 && refusals("denied").allSatisfy { $0.contains("account suspended") }, "\(refusals("denied"))")
        #expect(refusals("denied").contains { $0.contains(#""protocol":"srt""#) }, "\(refusals("denied"))")
        #expect(refusals("slow").first?.contains("no verdict") == true, "\(refusals("slow"))")
        #expect(refusals("broken").first?.contains("no verdict") == true, "\(refusals("broken"))")
        #expect(!events.contains { $0.eventType == "StreamStarted" && !$0.dataText.contains(#""channelName":"allowed""#) })

        // What the hook was told; an unknown key never reached it.
        let asked = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let first = try #require(asked.first { $0["channelName"] as? String == "allowed" })
        #expect(first["protocol"] as? String == "rtmp" && first["app"] as? String == "live" && first["action"] as? String == "publish")
        #expect((first["remoteAddress"] as? String)?.hasPrefix("127.0.0.1:") == true && (first["channelID"] as? String)?.count == 36)
        #expect(asked.count == 6, "probe, allowed, denied over RTMP and SRT, slow, broken: \(asked.count)")
    }
}
