import EventStore
import Foundation
import TestSupport
import Testing

/// The LL-HLS rules of RFC 8216bis §6.2.5 and Apple's authoring spec that a player depends on,
/// one test each, against `streamd serve` with ffmpeg publishing. Values (part target, target
/// duration, skip boundary) are read from the playlists, never assumed. A stalled stream is made
/// by stopping the publisher (SIGSTOP): nothing new can arrive, so what the server answers then
/// cannot depend on timing.
@Suite(.serialized) struct LLHLSRulesTests {
    /// The passthrough source plus one small encoded rung and the audio: three renditions that
    /// report each other.
    static let ladder = """
        {"rungs":[{"name":"160p","height":160,"frameRate":24,"bitrate":200000,"profile":"main","priority":0}],
         "audio":{"bitrate":128000,"sampleRate":48000,"channels":2},"preset":"ultrafast","keyframeInterval":2,
         "maxPassthroughKeyframeInterval":2,"allowsPassthrough":true}
        """
    static let renditions: Set<String> = ["source", "160p", "audio"]

    /// A live channel: the server, its stream key and a publisher that runs until stopped.
    struct Live {
        var server: StreamdServer
        var channel: String
        var key: String
        var publisher: Subprocess.Running

        func path(_ rendition: String, _ query: String = "") -> String {
            "/live/\(channel)/\(rendition)/index.m3u8" + (query.isEmpty ? "" : "?" + query)
        }

        func playlist(_ rendition: String, _ query: String = "") async throws -> MediaPlaylist {
            let reply = try await server.get(path(rendition, query))
            guard reply.status == 200 else { throw TestSupportError("\(path(rendition, query)): \(reply.status) \(reply.text)") }
            return try MediaPlaylist(reply.text)
        }

        /// Stops the publisher where it is; the stream stalls (the ingest's idle timeout, 10 s,
        /// ends it later).
        func stall() { kill(publisher.pid, SIGSTOP) }

        func close() {
            let (server, publisher) = (server, publisher)
            Task {
                _ = try? await onThread { publisher.stop(signal: SIGKILL) }
                _ = try? await server.stop(signal: SIGKILL)
                server.removeData()
            }
        }
    }

    /// ffmpeg publishing a small test pattern with a tone, in real time, until stopped.
    static func startPublisher(_ server: StreamdServer, key: String, seconds: Int = 120) throws -> Subprocess.Running {
        try server.startPublishing(key: key, seconds: seconds, size: "426x240")
    }

    /// A server with `channel` live on the small ladder, once every rendition has a segment.
    static func live(_ channel: String, playback: String? = nil) async throws -> Live {
        let server = try await StreamdServer()
        let key = try await server.createChannel(channel)
        let configured = try await server.admin("PUT", "/v1/channels/\(channel)/ladder", body: ladder)
        guard configured.status == 200 else { throw TestSupportError("ladder: \(configured.status) \(configured.text)") }
        if let playback {
            let set = try await server.admin("PUT", "/v1/channels/\(channel)/playback", body: playback)
            guard set.status == 200 else { throw TestSupportError("playback settings: \(set.status) \(set.text)") }
        }
        let live = Live(server: server, channel: channel, key: key, publisher: try startPublisher(server, key: key))
        do {
            _ = try await poll("every rendition of \(channel)", seconds: 40) { () -> Bool? in
                let reply = try await server.get("/live/\(channel)/index.m3u8")
                guard reply.status == 200 else { return nil }
                return Set(try MultivariantPlaylist(reply.text).renditionNames) == renditions ? true : nil
            }
        } catch {
            live.close()
            throw error
        }
        return live
    }

    /// The blocking reload a player sends for the part a preload hint (`sM.pN.m4s`) names.
    static func blockingQuery(_ hint: String) -> String {
        let numbers = hint.dropFirst().split(separator: ".").prefix(2).map { Int($0.filter(\.isNumber)) ?? 0 }
        return numbers.count == 2 ? "_HLS_msn=\(numbers[0])&_HLS_part=\(numbers[1])" : ""
    }

    /// `_HLS_msn=N` alone: held until segment N is complete, then answered with a playlist that
    /// lists it (§6.2.5.2), for the segment in progress and the one after it.
    @Test(.timeLimit(.minutes(3))) func anMSNAloneWaitsForThatSegmentToBeComplete() async throws {
        let live = try await Self.live("msn")
        defer { live.close() }
        for rendition in Self.renditions.sorted() {
            let now = try await live.playlist(rendition)
            let complete = now.segments.last?.msn ?? (now.mediaSequence - 1)
            for wanted in [complete + 1, complete + 2] {
                let playlist = try await live.playlist(rendition, "_HLS_msn=\(wanted)")
                #expect(
                    playlist.segments.contains { $0.msn == wanted },
                    "\(rendition) _HLS_msn=\(wanted): answered before segment \(wanted) was complete\n\(playlist.lines.joined(separator: "\n"))"
                )
                let problems = playlist.liveProblems(otherRenditions: Self.renditions.subtracting([rendition]))
                #expect(problems.isEmpty, "\(rendition): \(problems)")
            }
        }
    }

    /// `_HLS_msn` below the playlist's MEDIA-SEQUENCE (the segment left the window): the full
    /// playlist, at once. Asked while the stream is stalled, so a server that waited instead
    /// would answer 503 after three target durations.
    @Test(.timeLimit(.minutes(3))) func anMSNOlderThanTheWindowGetsTheFullPlaylistAtOnce() async throws {
        let live = try await Self.live("old", playback: #"{"dvrWindowSeconds":6,"recording":false}"#)
        defer { live.close() }
        _ = try await poll("the window to move past segment 1", seconds: 40) { () -> Bool? in
            try await live.playlist("source").mediaSequence >= 2 ? true : nil
        }
        live.stall()
        try await Task.sleep(for: .milliseconds(500))
        let before = try await live.playlist("source")
        for query in ["_HLS_msn=0", "_HLS_msn=\(before.mediaSequence - 1)", "_HLS_msn=0&_HLS_part=0", "_HLS_msn=1&_HLS_part=99"] {
            let reply = try await live.server.get(live.path("source", query))
            #expect(reply.status == 200, "\(query): \(reply.status) \(reply.text)")
            guard reply.status == 200 else { continue }
            let playlist = try MediaPlaylist(reply.text)
            #expect(playlist.skip == nil, "\(query) got a delta update")
            #expect(
                playlist.mediaSequence == before.mediaSequence && playlist.lastMSN == before.lastMSN
                    && playlist.lastPart == before.lastPart,
                "\(query): not the current playlist (\(playlist.mediaSequence), \(playlist.lastMSN).\(playlist.lastPart ?? -1))")
            let problems = playlist.liveProblems(otherRenditions: Self.renditions.subtracting(["source"]))
            #expect(problems.isEmpty, "\(query): \(problems)")
        }
    }

    /// A blocking request the stalled stream never satisfies: 503 once three target durations
    /// pass (§6.2.5.2), for a segment, a part and the preload-hinted part's bytes.
    @Test(.timeLimit(.minutes(3))) func aRequestTheStalledStreamNeverSatisfiesGets503() async throws {
        let live = try await Self.live("stall")
        defer { live.close() }
        live.stall()
        // What the encoder had already sent is still read (at its own pace) after it stopped:
        // the stall starts once the playlist stands still.
        var now = try await live.playlist("source")
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(500))
            let next = try await live.playlist("source")
            if next.lastMSN == now.lastMSN && next.lastPart == now.lastPart { break }
            now = next
        }
        let stalled = now
        let hint = try #require(stalled.preloadHint?["URI"])
        let server = live.server
        async let segment = server.get(live.path("source", "_HLS_msn=\(stalled.lastMSN + 2)"))
        async let part = server.get(live.path("source", "_HLS_msn=\(stalled.lastMSN)&_HLS_part=\((stalled.lastPart ?? -1) + 3)"))
        async let bytes = server.get("/live/stall/source/\(hint)")
        let replies = try await [("segment", segment), ("part", part), ("hinted part", bytes)]
        for (what, reply) in replies {
            #expect(reply.status == 503, "\(what): \(reply.status) \(reply.text.prefix(300))")
        }
    }

    /// `_HLS_part` without `_HLS_msn` is a bad request (§6.2.5.2), with a reason that says what to send.
    @Test(.timeLimit(.minutes(2))) func aPartWithoutAnMSNIs400() async throws {
        let live = try await Self.live("part")
        defer { live.close() }
        for query in ["_HLS_part=1", "_HLS_part=0&_HLS_skip=YES", "x=1&_HLS_part=2"] {
            let reply = try await live.server.get(live.path("source", query))
            #expect(reply.status == 400, "\(query): \(reply.status)")
            #expect(reply.text.contains("_HLS_msn"), "\(query): \(reply.text)")
        }
    }

    /// `_HLS_skip=YES` and `v2`, alone and with a blocking request: each delta update checked
    /// against the full playlist of the same moment (§6.2.5.1).
    @Test(.timeLimit(.minutes(3))) func deltaUpdatesSkipOnlyBeyondTheBoundaryAndMatchTheFullPlaylist() async throws {
        let live = try await Self.live("delta")
        defer { live.close() }
        _ = try await poll("a delta update", seconds: 60) { () -> Bool? in
            try await live.playlist("source", "_HLS_skip=YES").skipped.map { $0 > 0 } == true ? true : nil
        }
        for rendition in Self.renditions.sorted() {
            for skip in ["YES", "v2"] {
                for blocking in [false, true] {
                    let what = "\(rendition) _HLS_skip=\(skip)\(blocking ? " blocking" : "")"
                    let problems = try await poll("\(what): a delta and a full playlist of the same moment", seconds: 20) {
                        () -> [String]? in
                        var query = ""
                        if blocking {
                            guard let hint = try await live.playlist(rendition).preloadHint?["URI"] else { return nil }
                            query = Self.blockingQuery(hint) + "&"
                        }
                        async let deltaText = live.server.get(live.path(rendition, query + "_HLS_skip=\(skip)"))
                        async let fullText = live.server.get(live.path(rendition, String(query.dropLast())))
                        let (delta, full) = (try MediaPlaylist(try await deltaText.text), try MediaPlaylist(try await fullText.text))
                        guard (delta.skipped ?? 0) > 0 else { throw TestSupportError("\(what) skipped nothing") }
                        let others = Self.renditions.subtracting([rendition])
                        return delta.deltaProblems(against: full).map {
                            $0 + delta.liveProblems(otherRenditions: others) + full.liveProblems(otherRenditions: others)
                        }
                    }
                    #expect(problems.isEmpty, "\(what): \(problems)")
                }
            }
        }
    }

    /// PART-TARGET, PART-HOLD-BACK and the other constants hold for the whole session: reloads
    /// followed as a player does (blocking on the preload hint) from the first playlist served,
    /// through a reconnect (a discontinuity), and every part's INDEPENDENT matches its bytes.
    @Test(.timeLimit(.minutes(4))) func partTargetAndHoldBackNeverChangeAcrossReloadsAndAReconnect() async throws {
        // Without the slate nothing plays between the two publishes: the reconnect is a discontinuity.
        let server = try await StreamdServer(extra: ["--slate", "off"])
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("steady")
        #expect(try await server.admin("PUT", "/v1/channels/steady/ladder", body: Self.ladder).status == 200)
        let publishing = Task {
            let first = try await server.publish(key: key, seconds: 10, size: "426x240")
            let second = try await server.publish(key: key, seconds: 14, size: "426x240")
            return (first, second)
        }
        var sessions: [String: PlaylistSession] = [:]
        var next: [String: String] = [:]
        var checkedParts: Set<String> = []
        var discontinuity = false
        var reloadsAfterDiscontinuity = 0
        let deadline = ContinuousClock.now + .seconds(40)
        // From the first playlist any rendition serves, as often as a player would, until the
        // second publish has run a while.
        while ContinuousClock.now < deadline, !(discontinuity && reloadsAfterDiscontinuity >= 30) {
            var progressed = false
            for rendition in Self.renditions.sorted() {
                let path = "/live/steady/\(rendition)/index.m3u8"
                let reply = try await server.get(next[rendition].map { "\(path)?\($0)" } ?? path)
                guard reply.status == 200, let playlist = try? MediaPlaylist(reply.text) else {
                    next[rendition] = nil
                    continue
                }
                progressed = true
                var session = sessions[rendition] ?? PlaylistSession()
                session.observe(playlist)
                sessions[rendition] = session
                if rendition == "source" {
                    if playlist.segments.contains(where: \.discontinuity) { discontinuity = true }
                    if discontinuity { reloadsAfterDiscontinuity += 1 }
                }
                next[rendition] = playlist.preloadHint?["URI"].map(Self.blockingQuery)
                let listed = (playlist.segments.suffix(1).flatMap(\.parts) + playlist.trailingParts).filter {
                    !checkedParts.contains("\(rendition)/\($0.uri)")
                }
                for part in listed {
                    let bytes = try await server.get("/live/steady/\(rendition)/\(part.uri)")
                    guard bytes.status == 200 else { continue }
                    checkedParts.insert("\(rendition)/\(part.uri)")
                    let sync = FragmentReader.startsWithSyncSample(Array(bytes.body))
                    #expect(
                        sync == part.independent,
                        "\(rendition) \(part.uri): INDEPENDENT=\(part.independent), first sample sync: \(sync.map(String.init) ?? "unreadable")"
                    )
                }
            }
            if !progressed { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(discontinuity, "the reconnect never showed as a discontinuity")
        for rendition in Self.renditions.sorted() {
            let session = sessions[rendition] ?? PlaylistSession()
            #expect(session.reloads >= 20, "\(rendition): only \(session.reloads) reloads")
            #expect(session.problems.isEmpty, "\(rendition): \(session.problems)")
        }
        let (first, second) = try await publishing.value
        #expect(first.status == 0 && second.status == 0, "\(first.output) \(second.output)")
    }
}
