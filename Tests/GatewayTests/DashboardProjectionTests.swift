import Chat
import EventStore
import Foundation
import Gateway
import Ingest
import TestSupport
import Testing
import Transcode

/// The console's read model over a real log: a session's report, its timeline, and the activity
/// feed, and a replay that rebuilds the same rows.
@Suite struct DashboardProjectionTests {
    static var registry: EventRegistry {
        var registry = EventRegistry()
        registry.registerIngestEvents()
        registry.registerTranscodeEvents()
        registry.registerQualityEvents()
        registry.registerChatEvents()
        registry.registerGatewayEvents()
        return registry
    }

    @Test(.timeLimit(.minutes(1))) func aSessionBecomesItsReportAndReplaysIdentically() async throws {
        let store = try await TestDatabase.makeStore("dashboard", registry: Self.registry)
        defer { Task { await store.shutdown() } }
        let session = UUID().uuidString.lowercased()
        let stream = "session-\(session)"
        let encoder = EventMetadata(actor: EventActor(.encoder, id: "203.0.113.9:50000"))
        func append(_ event: any DomainEvent, to target: String = stream, metadata: EventMetadata = encoder) async throws -> Int64 {
            try await store.append(to: target, expectedVersion: .any, events: [try NewEvent(event, metadata: metadata)]).lastPosition
        }

        _ = try await append(
            StreamStarted(
                sessionID: session, channelID: "c1", channelName: "demo", remoteAddress: "203.0.113.9:50000",
                description: StreamDescription(encoder: "obs")))
        for bitrate in [2_000_000, 3_000_000] {
            var stats = IngestStats()
            stats.receivedBitrate = bitrate
            stats.videoFrameRate = 30
            stats.droppedFrames = 2
            _ = try await append(IngestStatsSampled(sessionID: session, channelID: "c1", stats: stats))
        }
        _ = try await append(
            RenditionStarted(
                channel: "demo", rendition: "480p", kind: .video, codec: "avc1.4d401e", width: 854, height: 480, frameRate: 30,
                bitrate: 1_200_000, passthrough: false, reason: .streamStarted, presentationTime: 0))
        _ = try await append(
            QualityChanged(
                sessionID: session, channelID: "c1",
                transition: QualityTransition(
                    from: .high, to: .medium, probing: nil, reason: .loss, detail: "loss 4% over 3%",
                    figures: QualityFigures(lossRate: 0.04), time: Date())))
        _ = try await append(
            RenditionStopped(
                channel: "demo", rendition: "480p", kind: .video, width: 854, height: 480, bitrate: 1_200_000, reason: .disabled,
                presentationTime: 12))
        _ = try await append(StreamResumed(sessionID: session, channelID: "c1", remoteAddress: "203.0.113.9:50001", gapMilliseconds: 800))
        for viewers in [3, 7, 5] {
            _ = try await append(
                AudienceSampled(
                    sessionID: session, channelID: "c1", channelName: "demo", viewers: viewers,
                    qoe: PlaybackQoE(players: viewers, startupMedianMilliseconds: 900, rebuffers: 1, rebufferRatio: 0.01)))
        }
        let viewer = EventMetadata(actor: EventActor(.user, id: "u1"))
        for _ in 0..<4 {
            _ = try await append(
                ChatMessagePosted(channel: "demo", messageId: UUID(), userId: "u1", name: "ann", text: "hi", nonce: nil),
                to: "chat-demo", metadata: viewer)
        }
        _ = try await append(
            ChatUserBanned(channel: "demo", userId: "u1"), to: "chat-demo", metadata: EventMetadata(actor: .admin, reason: "spam"))
        _ = try await append(
            PublishRejected(
                reason: "unknown_key", detail: "no such key", remoteAddress: "198.51.100.7:4000", app: "live", keyFingerprint: "ab",
                channelID: nil), to: "ingest-198.51.100.7")
        let last = try await append(
            StreamEnded(
                sessionID: session, channelID: "c1", reason: .encoderClosed, detail: nil, durationSeconds: 42, bytesReceived: 9_000_000,
                reconnects: 1))

        let runner = ProjectionRunner(store: store, sql: DashboardProjection())
        let running = Task { await runner.run() }
        defer { running.cancel() }
        #expect(await runner.waitUntil(last))

        let model = DashboardReadModel(store: store)
        let report = try #require(try await model.session(session))
        #expect(!report.live && report.endReason == "encoder_closed")
        #expect(report.channelName == "demo" && report.protocol == "rtmp" && report.encoder == "obs")
        #expect(report.samples == 2 && report.averageBitrate == 2_500_000 && report.averageFrameRate == 30)
        #expect(report.droppedFrames == 4 && report.reconnects == 1 && report.qualityChanges == 1 && report.quality == "MEDIUM")
        #expect(report.peakViewers == 7 && report.averageViewers == 5 && report.viewers == 0, "viewers drop to 0 at the end")
        #expect(report.qoe?.startupMedianMilliseconds == 900)
        #expect(report.chatMessages == 4 && report.moderationActions == 1)
        #expect(report.renditions == .object([:]), "nothing is on after the end")
        #expect(try await model.liveSessions().isEmpty)
        #expect(try await model.sessions(channel: "demo").map(\.sessionID) == [session])

        let timeline = try await model.timeline(session: session)
        #expect(
            timeline.map(\.kind) == [
                "started", "sample", "sample", "rendition", "quality", "rendition", "resumed", "audience", "audience", "audience", "ended",
            ])
        let quality = try await model.timeline(session: session, kinds: ["quality"])
        #expect(quality.count == 1)
        if case .object(let fields) = quality.first?.data {
            #expect(fields["reason"] == .string("loss") && fields["to"] == .string("MEDIUM"), "\(fields)")
        }

        let activity = try await model.activity()
        #expect(activity.map(\.kind) == ["refusal", "moderation"], "newest first")
        #expect(activity.last?.reason == "spam" && activity.last?.actor == "admin:admin" && activity.last?.channel == "demo")
        #expect(try await model.activity(kind: "moderation", channel: "demo").count == 1)

        let replay = try await ProjectionReplay(store: store, projection: DashboardProjection()).run()
        #expect(replay.isIdentical, "\(replay)")
    }
}
