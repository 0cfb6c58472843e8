import EventStore
import Foundation
import TestSupport
import Testing

/// A real session told back from the log: ffmpeg publishes, a second encoder is refused, an
/// admin revokes the key with a reason, and `streamd events timeline` says when it started, who
/// kicked it and why, citing positions that `events show` and `events trace` open.
@Suite struct SessionTimelineCLITests {
    func streamd(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Subprocess.runDetached(try Binaries.streamd(), arguments)
    }

    @Test(.timeLimit(.minutes(3))) func aKickedSessionsTimelineSaysWhoKickedItAndWhy() async throws {
        let server = try await StreamdServer()
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let url = server.database.urlString
        let key = try await server.createChannel("demo")
        _ = try await server.createChannel("demo2")
        let publisher = try server.startPublishing(key: key, seconds: 60)
        var reaped = false
        defer { if !reaped { _ = publisher.stop(signal: SIGKILL) } }
        let session = try await poll("the session to go live", seconds: 30) { () -> String? in
            let text = try await server.admin("GET", "/v1/streams").text
            guard text.contains("\"demo\""), let range = text.range(of: #""id":""#) else { return nil }
            return String(text[range.upperBound...].prefix(36)).lowercased()
        }
        // A second encoder with the same key is refused: recorded in the channel's own stream.
        let second = try await server.publish(key: key, seconds: 2)
        #expect(second.status != 0)
        let revoke = try await server.admin("DELETE", "/v1/channels/demo/key?reason=leaked%20on%20stream")
        #expect(revoke.status < 300, "\(revoke.text)")
        _ = try await onThread { publisher.wait() }
        reaped = true
        _ = try await poll("the session to end", seconds: 30) { () -> Bool? in
            try await server.admin("GET", "/v1/streams").text.contains("\"demo\"") ? nil : true
        }
        // The revoked key tried again: refused, and in the channel's stream too.
        let third = try await server.publish(key: key, seconds: 2)
        #expect(third.status != 0)

        var lastList = ""
        let found = try? await poll("the refusals in channel-demo", seconds: 10) { () -> String? in
            lastList = try await streamd(["events", "list", "--stream", "channel-demo", "--json", "--database-url", url]).output
            return lastList.contains("revoked_key") && lastList.contains("channel_already_live") ? lastList : nil
        }
        let channelEvents = try #require(found, "\(lastList)\nsecond: \(second.output)\nthird: \(third.output)")
        #expect(!channelEvents.contains("channel-demo2"), "--stream is exact")
        let prefixed = try await streamd(["events", "list", "--stream-prefix", "channel-demo", "--database-url", url])
        #expect(prefixed.output.contains("channel-demo2"))

        let timeline = try await streamd(["events", "timeline", "--channel", "demo", "--database-url", url])
        #expect(timeline.status == 0, "\(timeline.output)")
        let lines = timeline.output.split(separator: "\n").map(String.init)
        func line(_ text: String) -> String? { lines.first { $0.contains(text) } }
        #expect(lines.first?.contains("session \(session) on channel demo") == true, "\(timeline.output)")
        let published = try #require(line("published over rtmp from 127.0.0.1:"), "\(timeline.output)")
        #expect(published.hasPrefix("#"))
        #expect(line("channel_already_live") != nil, "\(timeline.output)")
        let revoked = try #require(line("stream key revoked by admin:admin: leaked on stream"), "\(timeline.output)")
        let revokedAt = try #require(Int64(revoked.dropFirst().prefix { $0.isNumber }))
        let kicked = try #require(line("kicked by admin:admin: stream key revoked"), "\(timeline.output)")
        #expect(kicked.contains("(key revoked at #\(revokedAt) by admin:admin: leaked on stream)"), "\(kicked)")

        // The same session by id, as JSON; one event whole; the revocation's trace.
        let json = try await streamd(["events", "timeline", session, "--json", "--database-url", url])
        #expect(json.output.contains(#""kind":"kicked""#), "\(json.output)")
        let show = try await streamd(["events", "show", "\(revokedAt)", "--database-url", url])
        #expect(show.output.contains("StreamKeyRevoked") && show.output.contains("reason        leaked on stream"), "\(show.output)")
        let trace = try await streamd(["events", "trace", "\(revokedAt)", "--database-url", url])
        #expect(trace.output.contains("* #\(revokedAt)"), "\(trace.output)")
        let missing = try await streamd(["events", "show", "99999999", "--database-url", url])
        #expect(missing.status != 0 && missing.output.contains("no event at position 99999999"))
        let report = try await server.admin("GET", "/v1/sessions/\(session)/report")
        #expect(report.status == 200)
        #expect(report.text.contains(#""reason":"kicked""#) && report.text.contains(#""by":"admin:admin""#), "\(report.text.prefix(600))")
        let unknown = try await streamd(["events", "timeline", "--channel", "nobody", "--database-url", url])
        #expect(unknown.status != 0 && unknown.output.contains("channel nobody has no session"))
    }
}
