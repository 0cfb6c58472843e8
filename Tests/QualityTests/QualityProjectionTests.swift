import EventStore
import Foundation
import Node
import Synchronization
import TestSupport
import Testing
import Transcode

@testable import Ingest
@testable import Quality

/// Records control calls the way `Transcoder` keeps them, and the causes they were given.
final class RecordingQualityControl: QualityControl {
    let state = Mutex((disabled: Set<String>(), audioOnly: false, cause: EventCause?.none))

    func setEnabled(_ enabled: Bool, rendition name: String) {
        state.withLock {
            if enabled { $0.disabled.remove(name) } else { $0.disabled.insert(name) }
        }
    }

    func setAudioOnly(_ audioOnly: Bool) {
        state.withLock { $0.audioOnly = audioOnly }
    }

    func attributeChanges(to cause: EventCause?) {
        state.withLock { $0.cause = cause }
    }

    var disabled: Set<String> { state.withLock { $0.disabled } }
    var cause: EventCause? { state.withLock { $0.cause } }
}

@Suite("Quality projection over a real event log", .serialized)
struct QualityProjectionTests {
    static let metadata = EventMetadata(actor: EventActor(.encoder, id: "127.0.0.1:50000"))

    /// Appends a session: StreamStarted, then one SRT sample per second of `figures`, then StreamEnded.
    static func appendSession(
        _ store: EventStore, channelID: String, samples: [(loss: Double, rtt: Double)], end: Bool = true
    ) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let stream = "session-\(id)"
        let started = StreamStarted(
            sessionID: id, channelID: channelID, channelName: "demo", protocol: "srt", remoteAddress: "127.0.0.1:50000",
            description: StreamDescription(
                video: .init(codec: "avc1", width: 1920, height: 1080, frameRate: 30, bitrate: 6_000_000), encoder: "test"))
        var events = [try NewEvent(started, metadata: metadata)]
        for sample in samples {
            var stats = IngestStats()
            stats.intervalSeconds = 1
            stats.receivedBitrate = 6_100_000
            stats.videoFrameRate = 30
            var link = SRTLinkStatistics()
            link.packetsLost = Int((sample.loss * 10_000).rounded())
            link.packetsReceived = 10_000 - link.packetsLost
            link.rttMilliseconds = sample.rtt
            link.receiveRateMbps = 6.1
            link.bandwidthMbps = 6.1
            stats.srt = link
            events.append(try NewEvent(IngestStatsSampled(sessionID: id, channelID: channelID, stats: stats), metadata: metadata))
        }
        if end {
            events.append(
                try NewEvent(
                    StreamEnded(
                        sessionID: id, channelID: channelID, reason: .encoderClosed, detail: nil, durationSeconds: Double(samples.count),
                        bytesReceived: 1, reconnects: 0), metadata: metadata))
        }
        // Several appends, as ingest makes them (one per sample), in order.
        var index = 0
        while index < events.count {
            let chunk = Array(events[index..<min(index + 25, events.count)])
            _ = try await store.append(to: stream, expectedVersion: .any, events: chunk)
            index += chunk.count
        }
        return id
    }

    /// 6 s of 4 % loss (HIGH → LOW), then 75 s clean (LOW → RECOVERY → MEDIUM).
    static let dipAndRecovery: [(loss: Double, rtt: Double)] =
        Array(repeating: (0.04, 40), count: 6) + Array(repeating: (0, 40), count: 75)

    static func qualityChanges(_ store: EventStore, session: String) async throws -> [RecordedEvent] {
        try await store.readStream("session-\(session)").filter { $0.eventType == QualityChanged.eventType }
    }

    static func runUntilCaughtUp(_ runner: ProjectionRunner, _ store: EventStore) async throws {
        // The projection appends as it goes; wait until it has scanned a head that no longer moves.
        var head = try await store.headPosition()
        while true {
            #expect(await runner.waitUntil(head, timeout: .seconds(60)))
            let now = try await store.headPosition()
            if now == head { return }
            head = now
        }
    }

    @Test(.timeLimit(.minutes(3))) func transitionsAreAppendedOnceReadModelReplaysIdenticallyAndRestartsDoNotDuplicate() async throws {
        let store = try await TestDatabase.makeStore("quality", registry: .platform)
        let bag = TaskBag()
        defer { Task { await bag.shutdown(store) } }
        let channel = UUID().uuidString.lowercased()
        let relaxedChannel = UUID().uuidString.lowercased()
        var relaxed = QualityThresholds.default
        relaxed.high.maximumLossRate = 0.1
        try await QualityReadModel(store: store).configure(
            channelID: relaxedChannel, channelName: "relaxed", thresholds: relaxed, metadata: EventMetadata(actor: .admin))

        let ended = try await Self.appendSession(store, channelID: channel, samples: Self.dipAndRecovery)
        let relaxedSession = try await Self.appendSession(store, channelID: relaxedChannel, samples: Self.dipAndRecovery)
        let live = try await Self.appendSession(store, channelID: channel, samples: Array(Self.dipAndRecovery.prefix(10)), end: false)

        // The controller steers an attached transcoder by the log's QualityChanged.
        let controller = QualityController(store: store)
        let control = RecordingQualityControl()
        await controller.attach(sessionID: live, control: control, policy: QualityLadderPolicy(ladder: .default))
        bag.add(Task { await controller.run(after: 0) })

        let runner = ProjectionRunner(store: store, sql: QualityProjection.live(store))
        let running = Task { await runner.run() }
        bag.add(running)
        try await Self.runUntilCaughtUp(runner, store)

        let changes = try await Self.qualityChanges(store, session: ended)
        let decoded = try changes.map { try store.registry.decode($0, as: QualityChanged.self) }
        #expect(decoded.map(\.from) == [.high, .low, .recovery])
        #expect(decoded.map(\.to) == [.low, .recovery, .medium])
        #expect(decoded.map(\.reason) == [.loss, .stable, .confirmed])
        #expect(decoded.first?.figures.lossRate == 0.04)
        #expect(decoded[1].probing == .medium)
        #expect(changes.allSatisfy { $0.metadata.actor == .system("quality") && $0.metadata.causationId != nil })
        // Per-channel thresholds: 4 % loss is within this channel's HIGH.
        #expect(try await Self.qualityChanges(store, session: relaxedSession).isEmpty)

        let model = QualityReadModel(store: store)
        let rows = try await model.sessions([ended, relaxedSession, live])
        #expect(rows[ended]?.state == .medium && rows[ended]?.live == false)
        #expect(rows[relaxedSession]?.state == .high)
        #expect(rows[live]?.state == .low && rows[live]?.level == .low && rows[live]?.live == true)
        #expect(rows[live].map { (0...100).contains($0.health) } == true)

        // The attached transcoder now runs LOW's renditions.
        let deadline = ContinuousClock.now + .seconds(30)
        while await controller.appliedLevel(sessionID: live) != .low, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(control.disabled == ["1080p", "720p", "source"])
        let toLow = try #require(try await Self.qualityChanges(store, session: live).last)
        #expect(control.cause == EventCause(toLow), "the renditions it stops name the QualityChanged as their cause")

        // Replay rebuilds identical tables; the recomputed transitions are the logged ones.
        let replay = try await ProjectionReplay(store: store, projection: QualityProjection()).run()
        #expect(replay.isIdentical, "\(replay)")
        let audit = try await QualityAudit(store: store).run()
        #expect(audit.isIdentical, "\(audit)")
        #expect(audit.recomputed == 4 && audit.logged == 4)

        // A restart that applies everything again (checkpoint and model lost) appends nothing new.
        await bag.stop(running)
        let before = try await store.headPosition()
        try await store.readModels.query("DELETE FROM quality_sessions", logger: store.logger)
        try await store.readModels.query("UPDATE projection_checkpoints SET position = 0 WHERE name = 'quality'", logger: store.logger)
        let again = ProjectionRunner(store: store, sql: QualityProjection.live(store))
        bag.add(Task { await again.run() })
        try await Self.runUntilCaughtUp(again, store)
        #expect(try await store.headPosition() == before)
        #expect(try await Self.qualityChanges(store, session: ended).count == 3)
        #expect(try await ProjectionReplay(store: store, projection: QualityProjection()).run().isIdentical)

        // The audit notices a transition nobody computed.
        var forged = try store.registry.decode(changes[0], as: QualityChanged.self)
        forged.to = .error
        _ = try await store.append(forged, to: "session-\(ended)", metadata: EventMetadata(actor: .system("quality")))
        let tampered = try await QualityAudit(store: store).run()
        #expect(!tampered.isIdentical && tampered.unexpected.count == 1)
    }
}
