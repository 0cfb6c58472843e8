import EventStore
import Foundation
import Node
import TestSupport
import Testing

@testable import Ingest
@testable import Quality

@Suite("Ingest alerts projection over a real event log", .serialized)
struct IngestAlertProjectionTests {
    static let metadata = EventMetadata(actor: EventActor(.encoder, id: "127.0.0.1:50000"))

    /// StreamStarted, then `windows` windows of ten one-second intervals, then (optionally) the end.
    static func appendSession(_ store: EventStore, channelID: String, windows: [IngestStats], end: Bool) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let started = StreamStarted(
            sessionID: id, channelID: channelID, channelName: "demo", protocol: "rtmp", remoteAddress: "127.0.0.1:50000",
            description: StreamDescription(video: .init(codec: "avc1", width: 640, height: 360, frameRate: 30, bitrate: nil)))
        _ = try await store.append(started, to: "session-\(id)", metadata: metadata)
        for stats in windows {
            let window = IngestStatsSummary(Array(repeating: stats, count: 10))
            _ = try await store.append(
                IngestStatsSampled(sessionID: id, channelID: channelID, stats: stats, window: window), to: "session-\(id)",
                metadata: metadata)
        }
        if end {
            _ = try await store.append(
                StreamEnded(
                    sessionID: id, channelID: channelID, reason: .encoderClosed, detail: nil, durationSeconds: 10, bytesReceived: 1,
                    reconnects: 0), to: "session-\(id)", metadata: metadata)
        }
        return id
    }

    static func runUntilCaughtUp(_ runner: ProjectionRunner, _ store: EventStore) async throws {
        var head = try await store.headPosition()
        while true {
            #expect(await runner.waitUntil(head, timeout: .seconds(60)))
            let now = try await store.headPosition()
            if now == head { return }
            head = now
        }
    }

    @Test(.timeLimit(.minutes(2))) func raisesAndClearsAreAppendedOnceCausedByTheStatisticsAndEndWithTheSession() async throws {
        let store = try await TestDatabase.makeStore("ingestalerts", registry: .platform)
        let bag = TaskBag()
        defer { Task { await bag.shutdown(store) } }
        let channel = UUID().uuidString.lowercased()
        let good = IngestAlertSessionTests.good()
        let silent = IngestAlertSessionTests.breaking(.audioMissing)
        // Silent for a window (raised at 5 s), good for two (cleared at 20 s, the first good window's end), silent again.
        let ended = try await Self.appendSession(store, channelID: channel, windows: [silent, good, good, silent], end: true)
        let live = try await Self.appendSession(store, channelID: channel, windows: [good, silent], end: false)
        // A channel that turned the rule off raises nothing.
        let quiet = UUID().uuidString.lowercased()
        var rules = IngestAlertRules.default
        rules.audioMissing = false
        try await IngestAlertReadModel(store: store).configure(
            channelID: quiet, channelName: "quiet", rules: rules, metadata: EventMetadata(actor: .admin))
        let quietSession = try await Self.appendSession(store, channelID: quiet, windows: [silent, silent], end: false)

        let runner = ProjectionRunner(store: store, sql: IngestAlertProjection.live(store))
        let running = Task { await runner.run() }
        bag.add(running)
        try await Self.runUntilCaughtUp(runner, store)

        func alerts(_ session: String) async throws -> [RecordedEvent] {
            try await store.readStream("session-\(session)").filter {
                [IngestAlertRaised.eventType, IngestAlertCleared.eventType].contains($0.eventType)
            }
        }
        let events = try await alerts(ended)
        #expect(events.map(\.eventType) == ["IngestAlertRaised", "IngestAlertCleared", "IngestAlertRaised"])
        let samples = try await store.readStream("session-\(ended)").filter { $0.eventType == IngestStatsSampled.eventType }
        #expect(events.map(\.metadata.causationId) == [samples[0].eventId, samples[1].eventId, samples[3].eventId])
        #expect(events.allSatisfy { $0.metadata.actor == .system("ingest-alerts") })
        let cleared = try store.registry.decode(events[1], as: IngestAlertCleared.self)
        #expect(cleared.rule == .audioMissing && cleared.durationSeconds == 15, "raised at 5 s, cleared at 20 s")
        // The raise after the last window is not cleared by an event: it ends with the session.
        #expect(try await alerts(quietSession).isEmpty)

        let model = IngestAlertReadModel(store: store)
        let rows = try await model.sessions([ended, live, quietSession])
        #expect(rows[ended]?.live == false && rows[ended]?.open == [])
        #expect(rows[live]?.live == true && rows[live]?.open.map(\.rule) == [.audioMissing])
        #expect(rows[quietSession]?.open == [])
        #expect(try await model.rules(channelID: quiet) == rules)
        #expect(try await model.rules(channelID: channel) == nil)

        // Replay rebuilds identical tables; applying everything again appends nothing new.
        #expect(try await ProjectionReplay(store: store, projection: IngestAlertProjection()).run().isIdentical)
        await bag.stop(running)
        let before = try await store.headPosition()
        try await store.readModels.query("DELETE FROM ingest_alert_sessions", logger: store.logger)
        try await store.readModels.query(
            "UPDATE projection_checkpoints SET position = 0 WHERE name = 'ingest-alerts'", logger: store.logger)
        let again = ProjectionRunner(store: store, sql: IngestAlertProjection.live(store))
        bag.add(Task { await again.run() })
        try await Self.runUntilCaughtUp(again, store)
        #expect(try await store.headPosition() == before)
        #expect(try await alerts(ended).count == 3)
    }
}
