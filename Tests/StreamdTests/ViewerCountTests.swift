import EventStore
import Foundation
import TestSupport
import Testing

/// Viewer counts and player QoE through `streamd serve`: three simulated players fetch a live
/// stream (through the router with CMCD in the query and in headers, and through the fast paths
/// without), the listing counts them and then lets them go, and their CMCD becomes the session's QoE.
@Suite(.serialized) struct ViewerCountTests {
    /// The source passes through and one small rung is encoded, so the test machine keeps up.
    static let ladder = """
        {"rungs":[{"name":"160p","height":160,"frameRate":15,"bitrate":150000,"profile":"main","priority":0}],
         "audio":{"bitrate":64000,"sampleRate":48000,"channels":2},"preset":"ultrafast","keyframeInterval":2,
         "maxPassthroughKeyframeInterval":2,"allowsPassthrough":true}
        """

    /// The `CMCD` query parameter for `text`, URL-encoded as players send it.
    static func cmcd(_ text: String) -> String {
        "CMCD=" + (text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
    }

    /// The one live session of `GET /v1/streams`.
    static func listed(_ server: StreamdServer) async throws -> [String: JSONValue] {
        let reply = try await server.admin("GET", "/v1/streams")
        let streams = try JSONDecoder().decode([String: [[String: JSONValue]]].self, from: reply.body)["streams"] ?? []
        guard streams.count == 1, let stream = streams.first else { throw TestSupportError("expected one live session: \(reply.text)") }
        return stream
    }

    @Test(.timeLimit(.minutes(2))) func playersAreCountedAndTheirCMCDBecomesQoE() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("crowd")
        #expect(try await server.admin("PUT", "/v1/channels/crowd/ladder", body: Self.ladder).status == 200)
        let publishing = Task { try await server.publish(key: key, seconds: 40, size: "320x180", gop: 30) }
        defer { publishing.cancel() }

        // Player a (CMCD in the query) starts: every request while it waits carries su.
        let starting = Self.cmcd(#"sid="a",su,ot=m,sf=h,st=l"#)
        let playlist = try await poll("a live part", seconds: 30) { () -> MediaPlaylist? in
            guard try await server.get("/live/crowd/index.m3u8?\(starting)").status == 200 else { return nil }
            let reply = try await server.get("/live/crowd/source/index.m3u8?\(starting)")
            guard reply.status == 200 else { return nil }
            let playlist = try MediaPlaylist(reply.text)
            return playlist.preloadHint != nil ? playlist : nil
        }
        let part = try #require(playlist.preloadHint?["URI"])
        try await Task.sleep(for: .milliseconds(300))
        let playing = try await server.get("/live/crowd/source/index.m3u8?\(Self.cmcd(#"sid="a",ot=m,sf=h,st=l"#))")
        #expect(playing.status == 200)
        let stalled = try await server.get("/live/crowd/source/\(part)?\(Self.cmcd(#"sid="a",bs,ot=v,bl=300,br=500,sf=h,st=l"#))")
        #expect(stalled.status == 200)

        // Player b: no CMCD, through the fast paths (a raw connection, two requests pipelined).
        let fast = try RawHTTP.pipelined(
            port: server.http, [[("GET", "/live/crowd/source/\(part)")], [("GET", "/live/crowd/source/\(part)")]])
        #expect(fast.map { $0.map(\.status) } == [[200], [200]])
        // Player c: CMCD in headers (which the router reads).
        let headed = try await server.get(
            "/live/crowd/source/\(part)",
            headers: [
                "CMCD-Session": #"sid="c",sf=h,st=l"#, "CMCD-Request": "su,bl=0", "CMCD-Object": "ot=v,br=500", "User-Agent": "player-c",
            ])
        #expect(headed.status == 200 && headed.body == Data(fast[0][0].body))

        let watched = try await Self.listed(server)
        #expect(watched["viewers"] == .number(3), "\(watched)")
        #expect(watched["peakViewers"] == .number(3), "\(watched)")
        guard case .object(let qoe)? = watched["qoe"] else {
            Issue.record("no QoE in \(watched)")
            return
        }
        #expect(qoe["players"] == .number(2), "a and c sent a sid: \(qoe)")
        #expect(qoe["rebuffers"] == .number(1), "a's bs: \(qoe)")
        guard case .number(let startup)? = qoe["startupMedianMs"] else {
            Issue.record("no startup time: \(qoe)")
            return
        }
        #expect(startup >= 300, "a waited for the stream with su, then played: \(qoe)")
        #expect(qoe["averageBitrateKbps"] == .number(500), "\(qoe)")

        // Event reports (CMCD v2): a stall of 700 ms told by player state.
        let reports = """
            e=ps,sid="a",sta=r,ts=1700000000000,v=2
            e=ps,sid="a",sta=p,ts=1700000000700,v=2
            """
        let posted = try await StreamdServer.request(
            "POST", server.base + "/v1/cmcd?channel=crowd", headers: ["Content-Type": "text/cmcd"], body: reports)
        #expect(posted.status == 204, "\(posted.text)")
        #expect(posted.headers["access-control-allow-origin"] == "*")
        let refused = try await StreamdServer.request(
            "POST", server.base + "/v1/cmcd", headers: ["Content-Type": "application/json"], body: #"[{"sid":"a","bl":"x"}]"#)
        #expect(refused.status == 400 && refused.text.contains("bl"), "\(refused.text)")
        let afterReports = try await Self.listed(server)
        guard case .object(let reported)? = afterReports["qoe"] else {
            Issue.record("no QoE in \(afterReports)")
            return
        }
        #expect(reported["rebuffers"] == .number(1), "the stall a told twice counts once: \(reported)")

        // Malformed and oversized CMCD: the media is served, nothing is logged or appended.
        let before = try await server.admin("GET", "/v1/events?limit=1000")
        let position = try JSONDecoder().decode(EventPage.self, from: before.body).next
        let junk = #"sid="cmcd-junk"#
        let oversized = #"sid="cmcd-junk-2",x=""# + String(repeating: "z", count: 2_000) + "\""
        let agent = ["User-Agent": "player-d"]
        #expect(try await server.get("/live/crowd/source/index.m3u8?\(Self.cmcd(junk))", headers: agent).status == 200)
        #expect(try await server.get("/live/crowd/source/\(part)?\(Self.cmcd(oversized))", headers: agent).status == 200)
        #expect(
            try await server.get("/live/crowd/source/\(part)", headers: agent.merging(["CMCD-Status": "bs=maybe"]) { $1 }).status == 200)
        try await Task.sleep(for: .milliseconds(500))
        let after = try await server.admin("GET", "/v1/events?after=\(position)&limit=1000")
        #expect(!after.text.contains("cmcd-junk") && !after.text.lowercased().contains("cmcd"), "\(after.text.prefix(800))")
        let types = Set(try JSONDecoder().decode(EventPage.self, from: after.body).events.map(\.type))
        #expect(types.isSubset(of: ["SegmentPublished", "IngestStatsSampled", "QualityChanged", "RenditionStarted"]), "\(types)")
        let (_, output) = try await server.stop()
        #expect(!output.lowercased().contains("cmcd"), "nothing about CMCD is logged: \(output.suffix(800))")
    }

    @Test(.timeLimit(.minutes(2))) func viewersLeaveAfterTheWindow() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("quiet")
        #expect(try await server.admin("PUT", "/v1/channels/quiet/ladder", body: Self.ladder).status == 200)
        let publishing = Task { try await server.publish(key: key, seconds: 40, size: "320x180", gop: 30) }
        defer { publishing.cancel() }
        let player = ["User-Agent": "player-1"]
        let playlist = try await poll("a live part", seconds: 30) { () -> MediaPlaylist? in
            let reply = try await server.get("/live/quiet/source/index.m3u8", headers: player)
            guard reply.status == 200 else { return nil }
            let playlist = try MediaPlaylist(reply.text)
            return playlist.preloadHint != nil ? playlist : nil
        }
        let part = try #require(playlist.preloadHint?["URI"])
        for agent in ["player-2", "player-3"] {
            #expect(try await server.get("/live/quiet/source/\(part)", headers: ["User-Agent": agent]).status == 200)
        }
        let stopped = ContinuousClock.now
        #expect(try await Self.listed(server)["viewers"] == .number(3))
        // The window is max(6 s, 3 × the 2 s segment target): all three are gone 6 s after their last fetch.
        _ = try await poll("the viewers to leave", seconds: 15) { () -> Bool? in
            try await Self.listed(server)["viewers"] == .number(0) ? true : nil
        }
        let gone = ContinuousClock.now - stopped
        #expect(gone >= .seconds(5), "not before the window (\(gone))")
        let listed = try await Self.listed(server)
        #expect(listed["peakViewers"] == .number(3) && listed["qoe"] == nil, "\(listed)")
    }

    struct EventPage: Decodable {
        struct Event: Decodable { var type: String }
        var events: [Event]
        var next: Int64
    }
}
