import EventStore
import Foundation
import TestSupport
import Testing

/// A player reads the multivariant playlist once: the first one a new session serves must list the
/// whole ladder, or a viewer who joins in the first seconds never sees the missing renditions.
@Suite struct FirstPlaylistTests {
    /// The default ladder for each source size: the rung as tall as the source is its passthrough
    /// (`source` when no rung is), every shorter rung is encoded.
    static let sources: [(size: String, renditions: Set<String>)] = [
        ("854x480", ["480p", "360p", "audio"]),
        ("960x540", ["source", "480p", "360p", "audio"]),
        ("1280x720", ["720p", "480p", "360p", "audio"]),
        ("640x360", ["360p", "audio"]),
        ("1280x720", ["720p", "480p", "360p", "audio"]),
    ]

    @Test(.timeLimit(.minutes(6))) func theFirstMultivariantPlaylistListsTheWholeLadder() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let runs = Int(ProcessInfo.processInfo.environment["STREAMD_FIRST_PLAYLIST_RUNS"] ?? "") ?? 20
        var delays: [Double] = []
        var shed = 0
        for run in 0..<runs {
            let source = Self.sources[run % Self.sources.count]
            // A channel per run: an ended publish keeps its session open a while for a reconnect.
            let channel = "first-\(run)"
            let key = try await server.createChannel(channel)
            // Every other run with x264's look-ahead on: its rungs finish their first segment half a
            // second after the passthrough's.
            let tuning = run % 2 == 0 ? "low-latency" : "quality"
            // ultrafast: the suite runs beside it on two cores, and a rung the machine cannot keep up
            // with is shed before its first segment, which the listing rightly leaves out.
            let ladder = try await server.admin("GET", "/v1/channels/\(channel)/ladder").text
                .replacingOccurrences(of: #""tuning":"low-latency""#, with: #""tuning":"\#(tuning)""#)
                .replacingOccurrences(of: #""preset":"veryfast""#, with: #""preset":"ultrafast""#)
            #expect(try await server.admin("PUT", "/v1/channels/\(channel)/ladder", body: ladder).status == 200)
            let started = ContinuousClock.now
            let publisher = try server.startPublishing(key: key, seconds: 12, size: source.size)
            defer { _ = publisher.stop(signal: SIGKILL) }
            // From the first byte of the publish: every answer before the first 200 is a 404 that
            // says to retry (with Retry-After once the channel is live).
            var first: StreamdServer.Reply?
            var refusals: [String] = []
            while first == nil, ContinuousClock.now - started < .seconds(30) {
                let reply = try await server.get("/live/\(channel)/index.m3u8")
                if reply.status == 200 {
                    first = reply
                } else {
                    #expect(reply.status == 404, "\(reply.status) \(reply.text)")
                    refusals.append(reply.text)
                    if reply.text.contains("is live but") { #expect(reply.headers["retry-after"] == "1") }
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            let reply = try #require(first, "run \(run) (\(source.size)): no multivariant playlist within 30 s")
            delays.append((ContinuousClock.now - started) / .seconds(1))
            let listed = Set(try MultivariantPlaylist(reply.text).renditionNames)
            // A rung the machine could not keep up with is shed (RenditionStopped, overload) and
            // rightly left out; every other missing rendition is the bug this test is for.
            let stoppedEvents = try await server.admin("GET", "/v1/events?type=RenditionStopped")
            let events = (try JSONSerialization.jsonObject(with: stoppedEvents.body) as? [String: Any])?["events"] as? [[String: Any]] ?? []
            let stopped = Set(
                events.compactMap { $0["data"] as? [String: Any] }.filter { $0["channel"] as? String == channel }
                    .compactMap { $0["rendition"] as? String })
            let missing = source.renditions.subtracting(listed).subtracting(stopped)
            #expect(
                missing.isEmpty && listed.isSubset(of: source.renditions),
                "run \(run) (\(source.size), \(tuning)): the first playlist lists \(listed.sorted()) of \(source.renditions.sorted())\n\(reply.text)"
            )
            if listed != source.renditions { shed += 1 }
            #expect(refusals.contains { $0.contains("retry in a second") })
            _ = publisher.stop(signal: SIGKILL)
        }
        let sorted = delays.sorted()
        print(
            "first complete multivariant playlist after the publish started: median \(sorted[sorted.count / 2]) s, max \(sorted.last ?? 0) s over \(runs) runs; \(shed) runs had a rung shed for overload"
        )
    }
}
