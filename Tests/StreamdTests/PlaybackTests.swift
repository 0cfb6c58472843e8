import EventStore
import Foundation
import TestSupport
import Testing

/// The product's main job, end to end through `streamd serve`: ffmpeg publishes over RTMP, players
/// (ffprobe/ffmpeg, headless Chromium, GStreamer) watch the LL-HLS stream live, and the recording
/// plays as VOD afterwards.
@Suite(.serialized) struct PlaybackTests {
    /// A small ladder so the test machine keeps up in real time: the 360p source passes through
    /// (2 s GOPs), and two rungs are encoded, one at 24 fps.
    static let ladder = """
        {"rungs":[{"name":"240p","height":240,"frameRate":30,"bitrate":400000,"profile":"main","priority":0},
                  {"name":"160p","height":160,"frameRate":24,"bitrate":200000,"profile":"main","priority":1}],
         "audio":{"bitrate":128000,"sampleRate":48000,"channels":2},"preset":"ultrafast","keyframeInterval":2,
         "maxPassthroughKeyframeInterval":2,"allowsPassthrough":true}
        """

    @Test(.timeLimit(.minutes(6))) func aPublishPlaysLiveAsLLHLSAndAsVODAfterwards() async throws {
        // Without the slate the recording ends where the publish did (with it, the grace window's
        // slate is recorded too: docs/ingest.md#backup-ingest-and-the-standby-slate).
        let server = try await StreamdServer(extra: ["--slate", "off"])
        defer { server.removeData() }
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("play")
        let configured = try await server.admin("PUT", "/v1/channels/play/ladder", body: Self.ladder)
        #expect(configured.status == 200, "\(configured.text)")

        let publishSeconds = 50.0
        async let publishing = server.publish(key: key, seconds: Int(publishSeconds))

        // The multivariant playlist appears once every rendition has a segment.
        let multivariantText = try await poll("the multivariant playlist", seconds: 30) { () -> String? in
            let reply = try await server.get("/live/play/index.m3u8")
            guard reply.status == 200 else { return nil }
            let parsed = try MultivariantPlaylist(reply.text)
            return parsed.variants.count >= 3 ? reply.text : nil
        }
        let multivariant = try MultivariantPlaylist(multivariantText)
        #expect(multivariant.problems().isEmpty, "\(multivariant.problems())\n\(multivariantText)")
        #expect(multivariant.media.contains { $0["TYPE"] == "AUDIO" && $0["URI"] == "audio/index.m3u8" }, "\(multivariantText)")
        let renditions = Set(multivariant.renditionNames)
        #expect(renditions == ["source", "240p", "160p", "audio"], "\(renditions)")

        // Let a few segments accumulate, then check every media playlist against the rules.
        try await Task.sleep(for: .seconds(4))
        for rendition in renditions {
            let reply = try await server.get("/live/play/\(rendition)/index.m3u8")
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"] == "application/vnd.apple.mpegurl")
            #expect(reply.headers["cache-control"] == "no-cache")
            #expect(reply.headers["access-control-allow-origin"] == "*")
            let playlist = try MediaPlaylist(reply.text)
            let problems = playlist.liveProblems(otherRenditions: renditions.subtracting([rendition]))
            #expect(problems.isEmpty, "\(rendition): \(problems)\n\(reply.text)")
            #expect(playlist.segments.count >= 2, "\(rendition) has \(playlist.segments.count) segments after ~8 s")
        }

        // Blocking reload: asking for the next part holds the request until that part exists.
        let path = "/live/play/240p/index.m3u8"
        let now = try MediaPlaylist(try await server.get(path).text)
        let (msn, part) = (now.lastMSN, (now.lastPart ?? -1) + 1)
        let started = ContinuousClock.now
        let blocked = try await server.get("\(path)?_HLS_msn=\(msn)&_HLS_part=\(part)")
        let waited = ContinuousClock.now - started
        #expect(blocked.status == 200)
        let after = try MediaPlaylist(blocked.text)
        #expect(
            after.lastMSN > msn || (after.lastMSN == msn && (after.lastPart ?? -1) >= part),
            "got \(after.lastMSN).\(after.lastPart ?? -1) for \(msn).\(part)")
        #expect(waited < .seconds(3), "a blocked reload is answered when the part arrives (\(waited))")
        #expect(try await server.get("\(path)?_HLS_msn=\(msn + 5)").status == 400, "too far ahead: 400")
        #expect(try await server.get("\(path)?_HLS_part=1").status == 400, "_HLS_part without _HLS_msn: 400")

        // The preload-hinted part is served as soon as it is written.
        let hint = try #require(after.preloadHint?["URI"])
        let hinted = try await server.get("/live/play/240p/\(hint)")
        #expect(hinted.status == 200)
        #expect(hinted.body.count > 8 && String(decoding: hinted.body[4..<8], as: UTF8.self) == "moof", "a part is a CMAF fragment")
        #expect(hinted.headers["cache-control"]?.contains("immutable") == true)
        #expect(hinted.headers["etag"] != nil && hinted.headers["last-modified"] != nil)

        // A part in memory is answered before the router (LiveMediaFastPath); a conditional request
        // goes through the router, which must give the same bytes and headers.
        let fast = try await server.get("/live/play/240p/\(hint)")
        let routed = try await server.get("/live/play/240p/\(hint)", headers: ["If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"])
        #expect(fast.status == 200 && routed.status == 200 && fast.body == hinted.body && routed.body == hinted.body)
        #expect(
            fast.headers.filter { $0.key != "date" } == routed.headers.filter { $0.key != "date" },
            "fast path \(fast.headers) vs router \(routed.headers)")
        // Pipelined requests come back in order, whichever path answers each: the first round
        // meets the HTTP-level path (a connection's first request is decoded before the fast paths
        // are in place), the next ones the raw path in front of HTTP decoding as well.
        let round: [(method: String, path: String)] = [
            ("GET", "/live/play/240p/\(hint)"), ("GET", path), ("HEAD", "/live/play/240p/\(hint)"), ("GET", "/live/play/240p/init.mp4"),
            ("GET", "/live/play/240p/s999999.p0.m4s?x=1"), ("GET", "/live/play/240p/\(hint)"),
        ]
        let rounds = try RawHTTP.pipelined(port: server.http, [round, [round[0]], [round[2]], round])
        #expect(
            rounds.map { $0.map(\.status) } == [[200, 200, 200, 200, 404, 200], [200], [200], [200, 200, 200, 200, 404, 200]],
            "\(rounds.map { $0.map(\.status) })")
        for answers in rounds where answers.count == 6 {
            #expect(answers[0].body == Array(hinted.body) && answers[5].body == Array(hinted.body))
            #expect(answers[1].headers["content-type"] == "application/vnd.apple.mpegurl")
            #expect(answers[2].headers["content-length"] == String(hinted.body.count) && answers[2].body.isEmpty)
            #expect(String(decoding: answers[3].body.dropFirst(4).prefix(4), as: UTF8.self) == "ftyp")
        }
        let routedFields = routed.headers.filter { $0.key != "date" }
        for answers in rounds {
            #expect(answers[0].headers.filter { $0.key != "date" } == routedFields, "\(answers[0].headers) vs \(routedFields)")
        }
        #expect(rounds[2][0].headers.filter { $0.key != "date" } == routedFields)

        // Segments: HEAD, byte ranges, conditional requests.
        let segment = try #require(after.segments.last)
        let head = try await server.get("/live/play/240p/\(segment.uri)", method: "HEAD")
        #expect(head.status == 200 && Int(head.headers["content-length"] ?? "") ?? 0 > 0)
        let range = try await server.get("/live/play/240p/\(segment.uri)", headers: ["Range": "bytes=0-99"])
        #expect(range.status == 206 && range.body.count == 100)
        let etag = try #require(head.headers["etag"])
        #expect(try await server.get("/live/play/240p/\(segment.uri)", headers: ["If-None-Match": etag]).status == 304)
        #expect(try await server.get("/live/play/720p/index.m3u8").status == 404)
        #expect(try await server.get("/live/nope/index.m3u8").status == 404)

        // Real players on the live stream.
        let live = server.base + "/live/play/index.m3u8"
        async let chromium = Players.chromiumPlays(live, seconds: 3)
        let probe = try await Subprocess.runDetached(
            "/usr/bin/ffprobe", ["-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height", "-of", "csv=p=0", live])
        #expect(probe.status == 0, "\(probe.output)")
        #expect(probe.output.contains("h264") && probe.output.contains("aac"), "\(probe.output)")
        // 15 s: with the impaired-network publishes beside it, hlsdemux has taken up to 9.5 s to
        // render its first frame (the publish runs 50 s so the stream outlives every player).
        let gstreamer = try await Players.gstreamerPlaysLive(live, seconds: 15)
        #expect(gstreamer.ok && gstreamer.rendered >= 30, "GStreamer rendered \(gstreamer.rendered) frames: \(gstreamer.output)")
        let played = try await chromium
        #expect(played.ok, "Chromium: \(played.detail)")

        // Delta updates once the playlist is longer than CAN-SKIP-UNTIL (6 × 2 s).
        let delta = try await poll("a delta update", seconds: 30) { () -> MediaPlaylist? in
            let playlist = try MediaPlaylist(try await server.get("\(path)?_HLS_skip=YES").text)
            return (playlist.skipped ?? 0) > 0 ? playlist : nil
        }
        let full = try MediaPlaylist(try await server.get(path).text)
        #expect(delta.segments.last?.msn == full.segments.last?.msn || (delta.segments.last?.msn ?? 0) + 1 == full.segments.last?.msn)
        #expect(delta.lines.count < full.lines.count, "a delta update is smaller")
        #expect(delta.mediaSequence == full.mediaSequence)

        let published = try await publishing
        #expect(published.status == 0, "\(published.output)")

        // After the end: the recording, finalized, plays as VOD; the live path is gone.
        let recordings = try await poll("the finalized recording", seconds: 30) { () -> [[String: JSONValue]]? in
            let reply = try await server.admin("GET", "/v1/channels/play/recordings")
            let list = try JSONDecoder().decode([String: [[String: JSONValue]]].self, from: reply.body)["recordings"] ?? []
            return list.contains { $0["state"] == .string("finalized") } ? list : nil
        }
        guard case .string(let session)? = recordings.first?["sessionID"] else { Issue.record("no session id in \(recordings)"); return }
        // The live path goes when the packager has let the session go, which may trail the
        // recording's finalization in the read model by a moment on a loaded machine.
        let gone = try? await poll("the live path to go", seconds: 10) { () -> Bool? in
            try await server.get("/live/play/index.m3u8").status == 404 ? true : nil
        }
        #expect(gone == true, "the live playlist still answers after the session ended")
        let vod = server.base + "/vod/\(session)/index.m3u8"
        let vodText = try await server.get("/vod/\(session)/index.m3u8").text
        let vodVariants = try MultivariantPlaylist(vodText)
        #expect(vodVariants.problems().isEmpty, "\(vodVariants.problems())")
        for rendition in Set(vodVariants.renditionNames) {
            let url = server.base + "/vod/\(session)/\(rendition)/index.m3u8"
            let media = try MediaPlaylist(try await server.get("/vod/\(session)/\(rendition)/index.m3u8").text)
            #expect(media.endList && media.lines.contains("#EXT-X-PLAYLIST-TYPE:VOD"))
            let seconds = media.segments.reduce(0) { $0 + $1.duration }
            #expect(
                seconds > publishSeconds - 6 && seconds < publishSeconds + 2,
                "\(rendition) recording lasts \(seconds) s of a \(publishSeconds) s publish")
            let decoded = try await Subprocess.runDetached("/usr/bin/ffmpeg", ["-v", "error", "-i", url, "-f", "null", "-"])
            #expect(decoded.status == 0 && decoded.output.isEmpty, "\(rendition) decodes without error: \(decoded.output.prefix(600))")
        }
        let gstVOD = try await Subprocess.runDetached(
            "/usr/bin/gst-launch-1.0",
            [
                "-q", "playbin", "uri=\(vod)", "video-sink=fakesink sync=false", "audio-sink=fakesink sync=false",
            ])
        #expect(gstVOD.status == 0, "GStreamer plays the recording: \(gstVOD.output.suffix(600))")

        let (status, output) = try await server.stop()
        stopped = true
        #expect(status == 0, "\(output.suffix(600))")

        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        let events = try await store.read(after: 0, limit: 100_000)
        let types = events.map(\.eventType)
        #expect(types.contains("LadderConfigured") && types.contains("RenditionStarted"))
        // One SegmentPublished per segment of the ladder, an entry per rendition.
        let entries = events.filter { $0.eventType == "SegmentPublished" }.map { event in
            ((try? JSONSerialization.jsonObject(with: event.data)) as? [String: Any])?["renditions"] as? [Any] ?? []
        }
        #expect(entries.map(\.count).reduce(0, +) >= 4 * 10)
        #expect(entries.count < entries.map(\.count).reduce(0, +))
        #expect(types.filter { $0 == "RecordingFinalized" }.count == 1)
        #expect(try await HashChainVerifier(store: store).verify() == .verified(count: Int64(events.count)))
    }

    /// Kill -9 mid-stream: at the next start the interrupted session is finalized with what reached
    /// disk, plays as VOD, and no event is duplicated.
    @Test(.timeLimit(.minutes(4))) func aKilledServerLeavesAPlayableRecordingAfterRestart() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        let key = try await server.createChannel("crash")
        _ = try await server.admin("PUT", "/v1/channels/crash/ladder", body: Self.ladder)
        let publishing = Task { try await server.publish(key: key, seconds: 30) }
        _ = try await poll("the stream", seconds: 30) { () -> Bool? in
            let reply = try await server.get("/live/crash/240p/index.m3u8")
            guard reply.status == 200 else { return nil }
            return try MediaPlaylist(reply.text).segments.count >= 3 ? true : nil
        }
        _ = try await server.stop(signal: SIGKILL)
        publishing.cancel()
        try await server.restart()
        defer { Task { try? await server.stop(signal: SIGKILL) } }

        let session = try await poll("the recovered recording", seconds: 60) { () -> String? in
            let reply = try await server.admin("GET", "/v1/channels/crash/recordings")
            let list = try JSONDecoder().decode([String: [[String: JSONValue]]].self, from: reply.body)["recordings"] ?? []
            guard let first = list.first, first["state"] == .string("finalized"), case .string(let id)? = first["sessionID"] else {
                return nil
            }
            return id
        }
        let url = server.base + "/vod/\(session)/240p/index.m3u8"
        let decoded = try await Subprocess.runDetached("/usr/bin/ffmpeg", ["-v", "error", "-i", url, "-f", "null", "-"])
        #expect(decoded.status == 0 && decoded.output.isEmpty, "\(decoded.output.prefix(600))")

        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        let events = try await store.read(after: 0, limit: 100_000)
        #expect(Set(events.map(\.eventId)).count == events.count)
        let finalized = events.filter { $0.eventType == "RecordingFinalized" }
        #expect(finalized.count == 1 && finalized.first?.dataText.contains("recovered after restart") == true)
        #expect(events.filter { $0.eventType == "StreamEnded" }.count == 1, "the interrupted session ends once")
        let segments = events.filter { $0.eventType == "SegmentPublished" }.map { $0.dataText }
        #expect(Set(segments).count == segments.count, "no segment is published twice")
    }
}

extension PlaybackTests {
    /// An encoder that reconnects within the grace window continues its session: the playlist marks
    /// the break with EXT-X-DISCONTINUITY. Without recording, a short DVR window trims the playlist,
    /// old segment files leave the disk, and nothing is left as VOD.
    /// An encoder whose keyframes grow sparse mid-stream (its settings changed): the copy of the
    /// source is retired, and the encoded rungs keep within the target duration and play on.
    @Test(.timeLimit(.minutes(3))) func keyframesGrowingSparseRetireThePassthroughAndTheRungsPlayOn() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("sparse")
        _ = try await server.admin("PUT", "/v1/channels/sparse/ladder", body: Self.ladder)
        // Keyframes every 2 s for the first 6 s, then none until the end.
        async let publishing = server.publish(
            key: key, seconds: 24, gop: 900, videoOptions: ["-sc_threshold", "0", "-force_key_frames", "expr:lte(t,6)*gte(t,n_forced*2)"])

        let stopped = try await poll("the passthrough to be retired", seconds: 60) { () -> String? in
            let reply = try await server.admin("GET", "/v1/events?type=RenditionStopped")
            return reply.text.contains("keyframesTooSparse") ? reply.text : nil
        }
        #expect(stopped.contains("source"), "\(stopped.prefix(800))")
        let multivariant = try MultivariantPlaylist(try await server.get("/live/sparse/index.m3u8").text)
        #expect(Set(multivariant.renditionNames) == ["240p", "160p", "audio"], "\(multivariant.renditionNames)")

        let path = "/live/sparse/240p/index.m3u8"
        let before = try MediaPlaylist(try await server.get(path).text)
        let after = try await poll("the 240p rung to go on", seconds: 20) { () -> MediaPlaylist? in
            let playlist = try MediaPlaylist(try await server.get(path).text)
            return playlist.lastMSN >= before.lastMSN + 2 ? playlist : nil
        }
        let problems = after.liveProblems(otherRenditions: ["source", "160p", "audio"])
        #expect(problems.isEmpty, "\(problems)\n\(after.lines.joined(separator: "\n"))")
        let published = try await publishing
        #expect(published.status == 0, "\(published.output)")
    }

    @Test(.timeLimit(.minutes(4))) func aReconnectIsADiscontinuityAndUnrecordedSegmentsLeaveWithTheWindow() async throws {
        // Without the slate nothing plays between the two publishes: the reconnect is a discontinuity.
        let server = try await StreamdServer(extra: ["--slate", "off"])
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("again")
        _ = try await server.admin("PUT", "/v1/channels/again/ladder", body: Self.ladder)
        let settings = try await server.admin("PUT", "/v1/channels/again/playback", body: #"{"dvrWindowSeconds":6,"recording":false}"#)
        #expect(settings.status == 200, "\(settings.text)")
        #expect(try await server.admin("PUT", "/v1/channels/again/playback", body: #"{"partTarget":5}"#).status == 400)
        // The hold-back is three part targets unless set, and never less.
        #expect(settings.text.contains(#""partTarget":0.25"#) && settings.text.contains(#""partHoldBack":0.75"#), "\(settings.text)")
        let short = try await server.admin("PUT", "/v1/channels/again/playback", body: #"{"partHoldBack":0.5}"#)
        #expect(short.status == 400 && short.text.contains("at least three part targets"), "\(short.text)")
        let held = try await server.admin("PUT", "/v1/channels/again/playback", body: #"{"partHoldBack":1.5}"#)
        #expect(held.status == 200 && held.text.contains(#""partHoldBack":1.5"#), "\(held.text)")

        let first = try await server.publish(key: key, seconds: 8)
        #expect(first.status == 0, "\(first.output)")
        async let second = server.publish(key: key, seconds: 22)
        let path = "/live/again/240p/index.m3u8"
        let broken = try await poll("a discontinuity in the playlist", seconds: 30) { () -> MediaPlaylist? in
            let playlist = try MediaPlaylist(try await server.get(path).text)
            return playlist.segments.contains(where: \.discontinuity) ? playlist : nil
        }
        #expect(broken.liveProblems(otherRenditions: ["source", "160p", "audio"]).isEmpty, "\(broken.lines.joined(separator: "\n"))")
        #expect(broken.serverControl["PART-HOLD-BACK"] == "1.5", "\(broken.serverControl)")

        let trimmed = try await poll("the DVR window to trim", seconds: 30) { () -> MediaPlaylist? in
            let playlist = try MediaPlaylist(try await server.get(path).text)
            return playlist.mediaSequence > 0 ? playlist : nil
        }
        #expect(trimmed.segments.reduce(0) { $0 + $1.duration } < 6 + 2.5, "the live playlist covers the 6 s window")
        let sessions = try FileManager.default.contentsOfDirectory(atPath: server.dataDir + "/media")
        #expect(sessions.count == 1)
        let folder = server.dataDir + "/media/\(sessions.first ?? "")/240p"
        _ = try await poll("trimmed segment files to be deleted", seconds: 30) { () -> Bool? in
            FileManager.default.fileExists(atPath: folder + "/s1.m4s") ? nil : true
        }
        let published = try await second
        #expect(published.status == 0, "\(published.output)")
        _ = try await poll("the unrecorded session's files to go", seconds: 40) { () -> Bool? in
            FileManager.default.fileExists(atPath: folder) ? nil : true
        }
        let reply = try await server.admin("GET", "/v1/channels/again/recordings")
        #expect(reply.text.contains(#""recordings":[]"#), "\(reply.text)")
    }
}

/// Retries `body` until it returns a value or `seconds` pass.
func poll<T>(_ what: String, seconds: Int, _ body: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + .seconds(seconds)
    var lastError: (any Error)?
    while ContinuousClock.now < deadline {
        do {
            if let value = try await body() { return value }
        } catch {
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(250))
    }
    throw TestSupportError("\(what) did not appear within \(seconds) s\(lastError.map { " (last error: \($0))" } ?? "")")
}
