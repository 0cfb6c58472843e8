import EventStore
import Foundation
import TestSupport
import Testing

/// The console's live feed (Server-Sent Events) as a dashboard reads it, and a shutdown it must not
/// hold up.
@Suite struct DashboardFeedTests {
    @Test(.timeLimit(.minutes(2))) func theFeedSendsTheLiveSessionsAndEndsWithTheServer() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("feed")
        async let publishing = server.publish(key: key, seconds: 8)

        // curl is the dashboard: it prints the stream as it comes, until the server ends it.
        let output = NSTemporaryDirectory() + "streamd-feed-\(UUID().uuidString.prefix(8)).txt"
        defer { try? FileManager.default.removeItem(atPath: output) }
        let reader = try Subprocess.start(
            "/bin/sh",
            [
                "-c",
                "curl -sN -H 'Authorization: Bearer \(server.token)' \(server.base)/v1/dashboard/live/events > \(output); echo done >> \(output)",
            ])
        let sawSession = try await poll("the live session on the feed", seconds: 30) { () -> Bool? in
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            return text.contains(#""channelName":"feed""#) ? true : nil
        }
        #expect(sawSession)
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(text.hasPrefix("event: live\ndata: {\"sessions\":"), "\(text.prefix(200))")

        let started = ContinuousClock.now
        let (exit, log) = try await server.stop()
        stopped = true
        let took = ContinuousClock.now - started
        #expect(exit == 0, "\(log.suffix(600))")
        #expect(took < .seconds(5), "an open dashboard held the shutdown for \(took)")
        _ = try await onThread { reader.wait() }
        #expect(try String(contentsOfFile: output, encoding: .utf8).hasSuffix("done\n"), "the feed ended with the server")
        _ = try await publishing
    }
}
