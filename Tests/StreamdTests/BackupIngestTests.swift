import EventStore
import Foundation
import TestSupport
import Testing

/// Backup ingest and the standby slate, from outside: two ffmpeg encoders publish one channel
/// (the second with `?role=backup`), hls.js in low-latency mode plays while the primary is killed,
/// comes back, and every input goes away; the events tell what happened and why.
@Suite(.serialized) struct BackupIngestTests {
    /// Part arrival times of one media playlist, polled every 25 ms.
    final class PartWatch: @unchecked Sendable {
        private let lock = NSLock()
        private var seen: Set<String> = []
        private var arrivals: [Date] = []

        func record(_ playlist: String) {
            let now = Date()
            let parts = playlist.split(separator: "\n").filter { $0.hasPrefix("#EXT-X-PART:") }.map(String.init)
            lock.withLock {
                for part in parts where seen.insert(part).inserted { arrivals.append(now) }
            }
        }

        /// The longest wait for a new part in `[from, from + span]`, and when the wait ended.
        func longestGap(from: Date, span: TimeInterval) -> (gap: TimeInterval, endedAfter: TimeInterval) {
            let times = lock.withLock { arrivals }.filter { $0 >= from.addingTimeInterval(-0.001) && $0 <= from.addingTimeInterval(span) }
            var best = (gap: 0.0, endedAfter: 0.0)
            var previous = from
            for time in times {
                let gap = time.timeIntervalSince(previous)
                if gap > best.gap { best = (gap, time.timeIntervalSince(from)) }
                previous = time
            }
            return best
        }

        var count: Int { lock.withLock { arrivals.count } }
    }

    static func streams(_ server: StreamdServer) async throws -> [[String: Any]] {
        let reply = try await server.admin("GET", "/v1/streams")
        let object = try JSONSerialization.jsonObject(with: reply.body)
        if let rows = object as? [[String: Any]] { return rows }
        return (object as? [String: Any])?["streams"] as? [[String: Any]] ?? []
    }

    @Test(.timeLimit(.minutes(4))) func theBackupTakesOverWithoutAStallAndTheSlateKeepsPlayersPlaying() async throws {
        let server = try await StreamdServer(extra: ["--input-stall-ms", "1000", "--input-switch-back-seconds", "2"])
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("failover")
        // The source's own rendition keeps its one init segment and pauses while the slate plays
        // (docs/ingest.md#backup-ingest): transcoded rungs are what plays through it.
        var current =
            try JSONSerialization.jsonObject(with: try await server.admin("GET", "/v1/channels/failover/ladder").body) as? [String: Any]
            ?? [:]
        current["allowsPassthrough"] = false
        let body = String(decoding: try JSONSerialization.data(withJSONObject: current), as: UTF8.self)
        let ladder = try await server.admin("PUT", "/v1/channels/failover/ladder", body: body)
        #expect(ladder.status == 200, "\(ladder.text)")
        var primary = try server.startPublishing(key: key, seconds: 120, size: "640x360")
        defer { _ = primary.stop(signal: SIGKILL) }
        _ = try await poll("the primary live", seconds: 30) { () -> Bool? in
            try await Self.streams(server).first?["playing"] as? String == "primary" ? true : nil
        }
        var backup = try server.startPublishing(key: key, seconds: 120, size: "640x360", role: "backup")
        defer { _ = backup.stop(signal: SIGKILL) }
        _ = try await poll("the backup connected", seconds: 30) { () -> Bool? in
            try await Self.streams(server).first?["inputs"] as? [String] == ["primary", "backup"] ? true : nil
        }
        // A second backup is refused by name.
        let third = try await server.publish(key: key + "?role=backup", seconds: 2, size: "640x360")
        #expect(third.status != 0)

        let variant = try await poll("a video variant", seconds: 30) { () -> Substring? in
            let master = try await server.get("/live/failover/index.m3u8").text
            return master.split(separator: "\n").first { !$0.hasPrefix("#") && $0.contains(".m3u8") }
        }
        let variantURL = "/live/failover/" + variant
        let watch = PartWatch()
        let watching = Task {
            while !Task.isCancelled {
                if let reply = try? await server.get(variantURL), reply.status == 200 { watch.record(reply.text) }
                try? await Task.sleep(for: .milliseconds(25))
            }
        }
        defer { watching.cancel() }
        let artifacts = NSTemporaryDirectory() + "streamd-backup-hlsjs"
        let player = Task {
            try await Players.hlsJSPlays("\(server.base)/live/failover/index.m3u8", seconds: 30, warmup: 2, artifacts: artifacts).line
        }
        try await Task.sleep(for: .seconds(7))

        // The primary dies: the backup's parts follow within a second.
        let killed = Date()
        _ = primary.stop(signal: SIGKILL)
        _ = try await poll("the backup playing", seconds: 10) { () -> Bool? in
            try await Self.streams(server).first?["playing"] as? String == "backup" ? true : nil
        }
        try await Task.sleep(for: .seconds(4))
        let failover = watch.longestGap(from: killed, span: 4)

        // The primary returns and plays again once healthy for 2 s.
        primary = try server.startPublishing(key: key, seconds: 120, size: "640x360")
        _ = try await poll("the primary playing again", seconds: 20) { () -> Bool? in
            try await Self.streams(server).first?["playing"] as? String == "primary" ? true : nil
        }
        try await Task.sleep(for: .seconds(3))

        // Every input gone: the slate plays, parts keep coming, and its frames decode.
        let gone = Date()
        _ = primary.stop(signal: SIGKILL)
        _ = backup.stop(signal: SIGKILL)
        _ = try await poll("the slate playing", seconds: 10) { () -> Bool? in
            try await Self.streams(server).first?["playing"] as? String == "slate" ? true : nil
        }
        try await Task.sleep(for: .seconds(4))
        let slateGap = watch.longestGap(from: gone, span: 5)
        let playlist = try await server.get(variantURL).text
        let lines = playlist.split(separator: "\n").map(String.init)
        let map = try #require(lines.last { $0.hasPrefix("#EXT-X-MAP:") }.flatMap { $0.split(separator: "\"").dropFirst().first })
        let last = try #require(lines.last { !$0.hasPrefix("#") && !$0.isEmpty })
        let base = "/live/failover/" + variant.split(separator: "/").dropLast().joined(separator: "/")
        let prefix = base.hasSuffix("/") ? base : base + "/"
        let segment = try await server.get(prefix + map).body + server.get(prefix + last).body
        let file = NSTemporaryDirectory() + "streamd-slate-\(UUID().uuidString.prefix(6)).mp4"
        try segment.write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let probe = try await Subprocess.runDetached(
            "/usr/bin/ffprobe",
            ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", file])
        let frames = Int(probe.output.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").first ?? "") ?? 0
        #expect(frames >= 20, "ffprobe decoded \(frames) frames of a slate segment: \(probe.output)")

        // An input returns within the grace window: the same session goes on.
        backup = try server.startPublishing(key: key, seconds: 120, size: "640x360", role: "backup")
        _ = try await poll("the backup playing after the slate", seconds: 20) { () -> Bool? in
            try await Self.streams(server).first?["playing"] as? String == "backup" ? true : nil
        }
        let line = try await player.value
        let figures = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
        let longestStall = figures["longestStallInWindow"] as? Double ?? -1
        let partTarget = (figures["details"] as? [String: Any])?["partTarget"] as? Double ?? 0
        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        let events = try await store.read(after: 0, limit: 10_000)
        let switchedAt = try #require(events.first { $0.eventType == "InputSwitched" }?.recordedAt)
        let detection = switchedAt.timeIntervalSince(killed)
        print(
            "backup ingest: kill → InputSwitched \(String(format: "%.3f", detection)) s; longest wait for a part in the 4 s after the kill \(String(format: "%.3f", failover.gap)) s; slate: longest wait \(String(format: "%.3f", slateGap.gap)) s; hls.js longest stall \(longestStall) s (part target \(partTarget) s); \(line)"
        )
        #expect(detection < 1.0, "the switch was recorded \(detection) s after the primary died")
        #expect(failover.gap < 1.0, "parts stopped for \(failover.gap) s after the primary died")
        #expect(slateGap.gap < 1.0, "the slate's parts came \(slateGap.gap) s apart at worst")
        #expect(
            longestStall >= 0 && longestStall <= partTarget + 0.25,
            "hls.js stalled \(longestStall) s\(Players.hlsJSDeadlockNote(figures)): \(line)")
        #expect((figures["fatal"] as? [Any])?.isEmpty == true, "\(line)")

        let switches = events.filter { $0.eventType == "InputSwitched" }.map(\.dataText)
        #expect(switches.count >= 3, "\(switches)")
        #expect(
            switches.first?.contains(#""from":"primary""#) == true && switches.first?.contains(#""to":"backup""#) == true
                && switches.first?.contains("input_disconnected") == true, "\(switches)")
        #expect(switches.contains { $0.contains(#""to":"primary""#) && $0.contains("primary_recovered") }, "\(switches)")
        #expect(switches.contains { $0.contains(#""from":"slate""#) && $0.contains(#""to":"backup""#) }, "\(switches)")
        #expect(events.filter { $0.eventType == "SlateStarted" }.count == 1)
        #expect(events.contains { $0.eventType == "SlateEnded" && $0.dataText.contains("input_returned") })
        #expect(events.filter { $0.eventType == "StreamStarted" }.count == 1, "one session throughout")
        #expect(!events.contains { $0.eventType == "StreamEnded" })
        let rejected = events.filter { $0.eventType == "PublishRejected" }.map(\.dataText)
        #expect(rejected.contains { $0.contains("backup_already_live") }, "\(rejected)")
    }
}
