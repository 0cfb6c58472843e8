import EventStore
import Foundation
import TestSupport
import Testing

extension StreamdServer {
    /// The SRT ingest URL as the banner prints it; ffmpeg passes the stream id verbatim.
    func srtURL(key: String, latencyMilliseconds: Int = 120) -> String {
        "srt://127.0.0.1:\(srt)?streamid=#!::r=live/\(key),m=publish&latency=\(latencyMilliseconds * 1000)"
    }

    /// ffmpeg (libsrt) arguments publishing a test pattern with a tone over SRT for `seconds`, in real time.
    func srtPublishArguments(key: String, seconds: Int, size: String = "640x360") -> [String] {
        [
            "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "\(seconds)",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60", "-bf", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-f", "mpegts", srtURL(key: key),
        ]
    }
}

/// SRT ingest end to end through `streamd serve`: ffmpeg publishes over SRT, and the stream plays
/// as LL-HLS exactly like an RTMP one (same pipeline, same playlists).
@Suite(.serialized) struct SRTPlaybackTests {
    @Test(.timeLimit(.minutes(4))) func anSRTPublishPlaysLiveAsLLHLS() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("srt-play")
        let configured = try await server.admin("PUT", "/v1/channels/srt-play/ladder", body: PlaybackTests.ladder)
        #expect(configured.status == 200, "\(configured.text)")

        // A wrong key is refused in the handshake (ffmpeg fails at once).
        let wrong = try await Subprocess.runDetached(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10", "-t", "1",
                "-c:v", "libx264", "-f", "mpegts", server.srtURL(key: "sk_wrong"),
            ])
        #expect(wrong.status != 0, "a wrong key must be refused: \(wrong.output)")

        // Long enough for a starved machine; stopped once the checks are done.
        let publisher = try Subprocess.start("/usr/bin/ffmpeg", server.srtPublishArguments(key: key, seconds: 300))
        var publishing = true
        defer { if publishing { _ = publisher.stop(signal: SIGKILL) } }

        let multivariantText = try await poll("the multivariant playlist of the SRT publish", seconds: 60) { () -> String? in
            let reply = try await server.get("/live/srt-play/index.m3u8")
            guard reply.status == 200 else { return nil }
            return try MultivariantPlaylist(reply.text).variants.count >= 3 ? reply.text : nil
        }
        let multivariant = try MultivariantPlaylist(multivariantText)
        #expect(multivariant.problems().isEmpty, "\(multivariant.problems())\n\(multivariantText)")
        let renditions = Set(multivariant.renditionNames)
        #expect(renditions == ["source", "240p", "160p", "audio"], "\(renditions)")

        // The session is listed as SRT with libsrt's statistics and a health score.
        let streams = try await poll("the SRT session with libsrt's statistics", seconds: 20) { () -> String? in
            let text = try await server.admin("GET", "/v1/streams").text
            return text.contains(#""protocol":"srt""#) && text.contains(#""rttMilliseconds""#) && text.contains(#""health""#) ? text : nil
        }
        #expect(streams.contains(#""connected":true"#), "\(streams.prefix(1500))")

        try await Task.sleep(for: .seconds(4))
        for rendition in renditions {
            let reply = try await server.get("/live/srt-play/\(rendition)/index.m3u8")
            #expect(reply.status == 200)
            let playlist = try MediaPlaylist(reply.text)
            let problems = playlist.liveProblems(otherRenditions: renditions.subtracting([rendition]))
            #expect(problems.isEmpty, "\(rendition): \(problems)\n\(reply.text)")
            #expect(playlist.segments.count >= 2, "\(rendition) has \(playlist.segments.count) segments")
            // The newest part is a CMAF fragment, served as soon as it is listed.
            if let part = (playlist.trailingParts.last ?? playlist.segments.last?.parts.last) {
                let fetched = try await server.get("/live/srt-play/\(rendition)/\(part.uri)")
                #expect(
                    fetched.status == 200 && fetched.body.count > 8 && String(decoding: fetched.body[4..<8], as: UTF8.self) == "moof",
                    "\(rendition)/\(part.uri): \(fetched.status)")
            }
        }

        // The live stream decodes: ffprobe sees H.264 and AAC, ffmpeg decodes a few seconds cleanly.
        let live = server.base + "/live/srt-play/index.m3u8"
        let probe = try await Subprocess.runDetached(
            "/usr/bin/ffprobe",
            [
                "-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height", "-of", "csv=p=0", live,
            ])
        #expect(probe.status == 0, "\(probe.output)")
        #expect(probe.output.contains("h264") && probe.output.contains("aac"), "\(probe.output)")
        let decoded = try await Subprocess.runDetached(
            "/usr/bin/ffmpeg",
            [
                "-v", "error", "-i", server.base + "/live/srt-play/240p/index.m3u8", "-t", "3", "-f", "null", "-",
            ])
        #expect(decoded.status == 0 && decoded.output.isEmpty, "240p decodes without error: \(decoded.output.prefix(600))")

        // SIGKILL: ffmpeg with an SRT output can sit on SIGTERM; the server notices the silence.
        _ = publisher.stop(signal: SIGKILL)
        publishing = false
        let (status, output) = try await server.stop()
        stopped = true
        #expect(status == 0, "\(output.suffix(800))")

        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        // jsonb renders with spaces after colons; compare without them.
        let events = try await store.read(after: 0, limit: 10_000).map {
            ($0.eventType, $0.dataText.replacingOccurrences(of: " ", with: ""))
        }
        let started = try #require(events.first { $0.0 == "StreamStarted" })
        #expect(started.1.contains(#""protocol":"srt""#), "\(started.1)")
        let samples = events.filter { $0.0 == "IngestStatsSampled" }
        // One event per window of intervals (10 s, or less when an interval shows trouble).
        let intervals = samples.map { sample -> Int in
            let object = (try? JSONSerialization.jsonObject(with: Data(sample.1.utf8))) as? [String: Any]
            return ((object?["window"] as? [String: Any])?["intervals"] as? NSNumber)?.intValue ?? 1
        }
        #expect(intervals.reduce(0, +) >= 5, "one interval a second while live: \(intervals)")
        #expect(samples.contains { $0.1.contains(#""receiveMbps""#) }, "samples carry SRT's own statistics")
        let rejected = events.filter { $0.0 == "PublishRejected" }
        #expect(rejected.contains { $0.1.contains(#""protocol":"srt""#) && $0.1.contains("unknown_key") }, "\(rejected)")
    }

    /// HEVC with Opus over SRT: never passed through, transcoded into the channel's H.264/AAC ladder.
    @Test(.timeLimit(.minutes(4))) func hevcWithOpusOverSRTPlaysTranscoded() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("srt-hevc")
        let configured = try await server.admin("PUT", "/v1/channels/srt-hevc/ladder", body: PlaybackTests.ladder)
        #expect(configured.status == 200, "\(configured.text)")
        let publisher = try Subprocess.start(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "300",
                "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=60:log-level=error", "-pix_fmt", "yuv420p",
                "-c:a", "libopus", "-b:a", "96k", "-ac", "2", "-f", "mpegts", server.srtURL(key: key),
            ])
        defer { _ = publisher.stop(signal: SIGKILL) }

        let text = try await poll("the multivariant playlist of the HEVC publish", seconds: 90) { () -> String? in
            let reply = try await server.get("/live/srt-hevc/index.m3u8")
            guard reply.status == 200 else { return nil }
            // Audio's first part can land after video's: wait for the whole ladder, not any two rungs.
            let names = Set(try MultivariantPlaylist(reply.text).renditionNames)
            return names.isSuperset(of: ["240p", "160p", "audio"]) ? reply.text : nil
        }
        let renditions = Set(try MultivariantPlaylist(text).renditionNames)
        #expect(!renditions.contains("source"), "HEVC never passes through: \(renditions)")
        #expect(renditions.isSuperset(of: ["240p", "160p", "audio"]), "\(renditions)")
        #expect(text.contains("avc1.") && text.contains("mp4a.40.2"), "\(text)")
        let started = try await server.admin("GET", "/v1/events?type=StreamStarted").text
        #expect(started.contains("hevc") && started.contains("opus"), "\(started.prefix(1200))")

        try await Task.sleep(for: .seconds(4))
        let decoded = try await Subprocess.runDetached(
            "/usr/bin/ffmpeg",
            [
                "-v", "error", "-i", server.base + "/live/srt-hevc/index.m3u8", "-t", "3", "-f", "null", "-",
            ])
        #expect(decoded.status == 0 && decoded.output.isEmpty, "decodes without error: \(decoded.output.prefix(600))")
    }
}
