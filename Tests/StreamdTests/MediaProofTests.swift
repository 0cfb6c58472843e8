import EventStore
import Foundation
import TestSupport
import Testing

/// Media bound to the log (issue 26): a real publish through the ladder, then the log's
/// `SegmentPublished` hashes against the files, `streamd vod verify` passing and then naming the
/// file that was changed, and the quality machine's replay still identical over windowed
/// statistics.
@Suite("Media bound to the log", .serialized)
struct MediaProofTests {
    static let ladder = """
        {"rungs":[{"name":"240p","height":240,"frameRate":30,"bitrate":400000,"profile":"main","priority":0},
                  {"name":"160p","height":160,"frameRate":24,"bitrate":200000,"profile":"main","priority":1}],
         "audio":{"bitrate":128000,"sampleRate":48000,"channels":2},"preset":"ultrafast","keyframeInterval":2,
         "maxPassthroughKeyframeInterval":2,"allowsPassthrough":true}
        """

    func streamd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.runDetached(try Binaries.streamd(), arguments)
    }

    static func sha256(_ path: String) async throws -> String {
        let result = try await Subprocess.runDetached("/usr/bin/sha256sum", [path])
        return String(result.output.prefix { $0 != " " })
    }

    @Test(.timeLimit(.minutes(4))) func aRecordingIsProvenByTheLogAndAChangedFileIsNamed() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("proof")
        _ = try await server.admin("PUT", "/v1/channels/proof/ladder", body: Self.ladder)
        let publish = try await server.publish(key: key, seconds: 14, size: "640x360")
        #expect(publish.status == 0, "\(publish.output)")
        let (status, output) = try await server.stop()
        stopped = true
        #expect(status == 0, "\(output.suffix(600))")

        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        let events = try await store.read(after: 0, limit: 100_000)
        await store.shutdown()
        func object(_ event: RecordedEvent) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: event.data) as? [String: Any]) ?? [:]
        }
        let segments = events.filter { $0.eventType == "SegmentPublished" }
        let session = try #require(segments.first.flatMap { object($0)["sessionID"] as? String })
        #expect(segments.allSatisfy { $0.schemaVersion == 2 })

        // Every entry's SHA-256 is its file's; each rendition's init segment is hashed once.
        let media = server.dataDir + "/media/"
        var files: [String] = []
        var initializations: [String: String] = [:]
        var renditionsPerEvent: [Int] = []
        for event in segments {
            let entries = object(event)["renditions"] as? [[String: Any]] ?? []
            renditionsPerEvent.append(entries.count)
            for entry in entries {
                let path = try #require(entry["path"] as? String)
                let digest = try #require(entry["sha256"] as? String, "\(entry)")
                #expect(try await Self.sha256(media + path) == digest, "\(path)")
                files.append(path)
                if let initialization = entry["initialization"] as? [String: Any], let initPath = initialization["path"] as? String {
                    #expect(initializations[initPath] == nil, "one init segment entry per rendition")
                    initializations[initPath] = initialization["sha256"] as? String
                }
            }
        }
        #expect(initializations.count == 4, "the 360p passthrough, 240p, 160p and audio: \(initializations.keys.sorted())")
        for (path, digest) in initializations { #expect(try await Self.sha256(media + path) == digest, "\(path)") }
        // One event covers the ladder's renditions of a segment; a rung more than the deadline
        // late (a slow start on a loaded machine) goes out alone after it, at most twice here.
        let sequences = Set(segments.compactMap { (object($0)["mediaSequence"] as? NSNumber)?.intValue })
        #expect(
            renditionsPerEvent.filter { $0 == initializations.count }.count >= sequences.count - 2
                && segments.count <= sequences.count + 2,
            "one event covers the ladder's renditions of a segment: \(renditionsPerEvent) for \(sequences.count) segments")

        // Windows, not one event a second: the quality machine's replay is still identical.
        let statistics = events.filter { $0.eventType == "IngestStatsSampled" }
        let intervals = statistics.map { ((object($0)["window"] as? [String: Any])?["intervals"] as? NSNumber)?.intValue ?? 1 }
        #expect(
            intervals.reduce(0, +) >= 10 && statistics.count * 2 <= intervals.reduce(0, +),
            "\(statistics.count) events for \(intervals) intervals")
        let url = server.database.urlString
        for projection in ["quality", "dvr", "dashboard"] {
            let replay = try await streamd(["events", "replay", "--projection", projection, "--database-url", url])
            #expect(replay.status == 0 && replay.output.contains("identical"), "\(projection): \(replay.output)")
        }

        var common = ["--database-url", url, "--data-dir", server.dataDir]
        let verified = try await streamd(["vod", "verify", session] + common)
        #expect(verified.status == 0, "\(verified.output)")
        #expect(verified.output.contains("\(files.count + initializations.count) files verified"), "\(verified.output)")

        // The session's segment and statistics events leave the database for an archive (up to
        // where every read model has read); the recording is still proven with the archive, and
        // archive plus live verify against a checkpoint.
        let read = try await SQL.column(server.database, "SELECT min(position)::text FROM projection_checkpoints")
        let through = try #require(read.first.flatMap { Int64($0) })
        #expect(through > segments[segments.count / 2].position, "the read models recorded how far they read: \(read)")
        let archive = server.dataDir + "/session.archive"
        let archived = try await streamd(["events", "archive", "--through", "\(through)", "--out", archive] + common)
        #expect(archived.status == 0 && archived.output.contains("archived "), "\(archived.output)")
        let gone = try await streamd(["vod", "verify", session] + common)
        #expect(gone.output.contains("were archived") && gone.output.contains("--archive FILE"), "\(gone.output)")
        let checkpoint = server.dataDir + "/archived.checkpoint"
        let signed = try await streamd(["events", "checkpoint", "--out", checkpoint] + common)
        #expect(signed.status == 0, "\(signed.output)")
        let both = try await streamd(["events", "verify", "--checkpoint", checkpoint, "--archive", archive] + common)
        #expect(both.status == 0 && both.output.contains("archived events read from the archives given"), "\(both.output)")
        let alone = try await streamd(["events", "verify", "--checkpoint", checkpoint] + common)
        #expect(alone.status == 1 && alone.output.contains("archived"), "\(alone.output)")
        #expect(try await streamd(["events", "verify"] + common).status == 0, "the hash chain goes on over the archived positions")
        common += ["--archive", archive]
        let fromArchive = try await streamd(["vod", "verify", session] + common)
        #expect(fromArchive.status == 0, "\(fromArchive.output)")
        #expect(fromArchive.output.contains("\(files.count + initializations.count) files verified"), "\(fromArchive.output)")

        // A clip cut from the recording: proven byte-identical, or not what aired.
        let middle = files[files.count / 2]
        let copy = NSTemporaryDirectory() + "streamd-clip-\(UUID().uuidString.prefix(8)).m4s"
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: media + middle, toPath: copy)
        let clip = try await streamd(["vod", "verify", session, "--file", copy] + common)
        #expect(clip.status == 0 && clip.output.contains("byte-identical") && clip.output.contains(middle), "\(clip.output)")

        // One byte changed in the middle of the recording: named, exit 1.
        let handle = try #require(FileHandle(forUpdatingAtPath: media + middle))
        try handle.seek(toOffset: 600)
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: 600)
        try handle.write(contentsOf: Data([byte ^ 0xFF]))
        try handle.close()
        let changed = try await streamd(["vod", "verify", session] + common)
        #expect(changed.status == 1, "\(changed.output)")
        #expect(changed.output.contains("differs") && changed.output.contains(middle), "\(changed.output)")
        let changedClip = try await streamd(["vod", "verify", session, "--file", media + middle] + common)
        #expect(changedClip.status == 1 && changedClip.output.contains("matches no file"), "\(changedClip.output)")

        try FileManager.default.removeItem(atPath: media + middle)
        let removed = try await streamd(["vod", "verify", session] + common)
        #expect(removed.status == 1 && removed.output.contains("missing") && removed.output.contains(middle), "\(removed.output)")

        let unknown = try await streamd(["vod", "verify", UUID().uuidString] + common)
        #expect(unknown.status != 0 && unknown.output.contains("no SegmentPublished"), "\(unknown.output)")
    }
}
