import EventStore
import Foundation
import TestSupport
import Testing

/// Issue 25 item 4 end to end: ffmpeg publishes a stream that breaks the channel's rules (no
/// audio, a 10 s GOP); `IngestAlertRaised` reaches the log, the live listing and the timeline, and
/// the session's end ends its alerts. A compliant publish raises none.
@Suite struct IngestAlertsTests {
    /// The live session of `channel` in `GET /v1/streams`, with its open alerts' rules.
    static func live(_ server: StreamdServer, channel: String) async throws -> (id: String, rules: [String])? {
        let reply = try await server.admin("GET", "/v1/streams")
        let listing = try JSONSerialization.jsonObject(with: reply.body) as? [String: Any]
        for stream in listing?["streams"] as? [[String: Any]] ?? [] where stream["channelName"] as? String == channel {
            guard let id = stream["id"] as? String else { continue }
            let alerts = stream["alerts"] as? [[String: Any]] ?? []
            return (id.lowercased(), alerts.compactMap { $0["rule"] as? String })
        }
        return nil
    }

    static func alertEvents(_ server: StreamdServer, session: String) async throws -> String {
        try await server.admin("GET", "/v1/events?stream=session-\(session)&type=IngestAlertRaised,IngestAlertCleared").text
    }

    @Test(.timeLimit(.minutes(4))) func aPublishWithoutAudioAndWithA10SecondGOPRaisesAlertsAndACompliantOneRaisesNone() async throws {
        let server = try await StreamdServer()
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let broken = try await server.createChannel("broken")
        let clean = try await server.createChannel("clean")
        // Rules as the defaults, but raised after 2 s so that the test is short.
        let put = try await server.admin(
            "PUT", "/v1/channels/broken/ingest-alerts",
            body: #"""
                {"minimumFrameRate":15,"maximumKeyframeIntervalSeconds":4,"bFrames":true,"audioMissing":true,
                 "maximumAVDriftMilliseconds":1000,"raiseAfterSeconds":2,"clearAfterSeconds":10}
                """#)
        #expect(put.status == 200, "\(put.text)")

        // 30 fps with a keyframe every 300 frames (10 s), and no audio.
        async let publishing = server.publish(key: broken, seconds: 18, gop: 300, videoOptions: ["-an"])
        let (session, shown) = try await poll("the alerts in GET /v1/streams", seconds: 40) { () -> (String, [String])? in
            guard let live = try await Self.live(server, channel: "broken"),
                live.rules.contains("audioMissing") && live.rules.contains("keyframeInterval")
            else { return nil }
            return (live.id, live.rules)
        }
        #expect(!shown.contains("frameRate") && !shown.contains("bFrames"), "\(shown)")
        let open = try await server.admin("GET", "/v1/streams/\(session)/alerts")
        #expect(open.status == 200 && open.text.contains(#""live":true"#), "\(open.text)")
        #expect(open.text.contains("no audio frames arrive") && open.text.contains("keyframes arrive"), "\(open.text)")
        let published = try await publishing
        #expect(published.status == 0, "\(published.output)")

        let raised = try await Self.alertEvents(server, session: session)
        #expect(raised.contains(#""rule":"audioMissing""#) && raised.contains(#""rule":"keyframeInterval""#), "\(raised)")
        #expect(raised.contains("IngestAlertRaised") && raised.contains("causationId"), "\(raised)")
        // The session's end ends its alerts (no IngestAlertCleared follows its StreamEnded).
        let ended = try await poll("the session's end in its alerts", seconds: 40) { () -> String? in
            let reply = try await server.admin("GET", "/v1/streams/\(session)/alerts").text
            return reply.contains(#""live":false"#) ? reply : nil
        }
        #expect(ended.contains(#""open":[]"#), "\(ended)")
        let timeline = try await Subprocess.runDetached(
            try Binaries.streamd(), ["events", "timeline", session, "--database-url", server.database.urlString])
        #expect(timeline.output.contains("ingest alert audioMissing raised: no audio frames arrive"), "\(timeline.output)")
        #expect(timeline.output.contains("ingest alert keyframeInterval raised: keyframes arrive"), "\(timeline.output)")

        // The same encoder with audio and 2 s keyframes, on a channel with the default rules.
        let compliant = try await server.publish(key: clean, seconds: 14)
        #expect(compliant.status == 0, "\(compliant.output)")
        let sessions = try await server.admin("GET", "/v1/dashboard/sessions?channel=clean").text
        let range = try #require(sessions.range(of: #""sessionID":""#), "\(sessions)")
        let cleanSession = String(sessions[range.upperBound...].prefix(36)).lowercased()
        let judged = try await poll("the compliant session's end in its alerts", seconds: 40) { () -> String? in
            let reply = try await server.admin("GET", "/v1/streams/\(cleanSession)/alerts").text
            return reply.contains(#""live":false"#) ? reply : nil
        }
        #expect(judged.contains(#""open":[]"#))
        let none = try await Self.alertEvents(server, session: cleanSession)
        #expect(!none.contains("IngestAlert"), "\(none)")

        // The alerts' model and the console's, rebuilt from the log, equal the live ones.
        for model in ["ingest-alerts", "dashboard"] {
            let replay = try await Subprocess.runDetached(
                try Binaries.streamd(), ["events", "replay", "--projection", model, "--database-url", server.database.urlString])
            #expect(replay.status == 0 && replay.output.contains("identical"), "\(model): \(replay.output)")
        }
    }
}
