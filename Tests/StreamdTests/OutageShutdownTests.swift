import EventStore
import Foundation
import TestSupport
import Testing

/// SIGTERM while the database is away (ops/outage runs the same against the embedded default): the
/// process exits within 10 s with the outage's facts in the spool, and the next start replays
/// them, each once.
@Suite struct OutageShutdownTests {
    @Test(.timeLimit(.minutes(3))) func sigtermDuringAnOutageExitsAndTheNextStartReplaysTheSpool() async throws {
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("streamd-outage-stop-\(UUID().uuidString.prefix(8))")
        let cluster = try EmbeddedPostgres(
            dataDirectory: root.appendingPathComponent("db"), database: "postgres", durable: false, logger: TestDatabase.logger)
        defer {
            cluster.stop()
            try? FileManager.default.removeItem(at: root)
        }
        let (url, _) = try cluster.start()
        let server = try await StreamdServer(database: url, dataDir: root.appendingPathComponent("data").path)
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("dark")
        async let publishing = server.publish(key: key, seconds: 25)
        _ = try await poll("the stream to start", seconds: 30) { () -> Bool? in
            try await server.admin("GET", "/v1/streams").text.contains("\"dark\"") ? true : nil
        }
        await onThread { cluster.stop() }
        // Each second brings a statistics sample: the first one to find no database starts the
        // outage 2 s later.
        let spool = root.appendingPathComponent("data/spool")
        _ = try await poll("the node to spool", seconds: 20) { () -> Bool? in
            let files = (try? FileManager.default.contentsOfDirectory(atPath: spool.path)) ?? []
            return files.contains { $0.hasSuffix(".spool") } ? true : nil
        }
        try await Task.sleep(for: .seconds(1))
        let signalled = ContinuousClock.now
        let (status, output) = try await server.stop()
        stopped = true
        let took = signalled.duration(to: .now)
        #expect(took < .seconds(10), "SIGTERM during the outage took \(took)")
        #expect(status == 0, "\(output.suffix(2_000))")
        _ = try? await publishing

        _ = try await onThread { try cluster.start() }
        try await server.restart()
        stopped = false
        let leftover = try await poll("the spool to be replayed", seconds: 30) { () -> [String]? in
            let files = try FileManager.default.contentsOfDirectory(atPath: spool.path).filter { $0.hasSuffix(".spool") }
            return files.isEmpty ? files : nil
        }
        #expect(leftover.isEmpty)
        let ended = try await SQL.column(url, "SELECT count(*)::text FROM events WHERE event_type = 'StreamEnded'")
        #expect(ended == ["1"], "the session's end, spooled during the outage, is in the log")
        let twice = try await SQL.column(url, "SELECT (count(*) - count(DISTINCT event_id))::text FROM events")
        #expect(twice == ["0"])
        let outage = try await SQL.column(url, "SELECT data->>'cause' FROM events WHERE event_type = 'DatabaseOutage'")
        #expect(outage.count == 1, "\(outage)")
        try await server.stop()
        stopped = true
    }
}
