import Channels
import Chat
import EventStore
import Foundation
import Gateway
import Hummingbird
import HummingbirdTesting
import Ingest
import TestSupport
import Testing
import Transcode

/// A session's timeline and report read from a real log: what happened, with positions, and why.
@Suite struct SessionAuditTests {
    static var registry: EventRegistry {
        var registry = DashboardProjectionTests.registry
        registry.registerChannelEvents()
        return registry
    }

    /// The positions of the story's events, to check the timeline cites them.
    struct Story {
        var session = UUID().uuidString.lowercased()
        var started: Int64 = 0
        var refused: Int64 = 0
        var quality: Int64 = 0
        var renditionStopped: Int64 = 0
        var resumed: Int64 = 0
        var banned: Int64 = 0
        var revoked: Int64 = 0
        var ended: Int64 = 0
    }

    /// A session on `demo` with a quality drop that stops a rendition, a refused second encoder, a
    /// reconnect, a ban in its room, and a key revocation that kicks it; around it, a neighbour
    /// channel (`demo2`) whose events must stay out, and a message posted after the end.
    static func record(_ store: EventStore) async throws -> Story {
        var story = Story()
        let stream = "session-\(story.session)"
        let encoder = EventMetadata(actor: EventActor(.encoder, id: "203.0.113.9:50000"))
        func append(_ event: any DomainEvent, to target: String = stream, metadata: EventMetadata = encoder) async throws -> Int64 {
            try await store.append(to: target, expectedVersion: .any, events: [try NewEvent(event, metadata: metadata)]).lastPosition
        }
        _ = try await append(ChannelCreated(channelId: UUID(), name: "demo"), to: "channel-demo", metadata: EventMetadata(actor: .admin))
        story.started = try await append(
            StreamStarted(
                sessionID: story.session, channelID: "c1", channelName: "demo", remoteAddress: "203.0.113.9:50000",
                description: StreamDescription(encoder: "obs")))
        for (index, bitrate) in [5_000_000, 2_400_000, 2_600_000].enumerated() {
            var stats = IngestStats()
            stats.receivedBitrate = bitrate
            stats.videoFrameRate = 30 - Double(index)
            stats.droppedFrames = index
            stats.bytesReceivedTotal = UInt64(index + 1) * 1_000_000
            _ = try await append(IngestStatsSampled(sessionID: story.session, channelID: "c1", stats: stats))
        }
        _ = try await append(
            PublishRejected(
                reason: "revoked_key", detail: "elsewhere", remoteAddress: "198.51.100.1:1", app: "live", keyFingerprint: "cd",
                channelID: nil, channelName: "demo2"), to: "channel-demo2")
        story.refused = try await append(
            PublishRejected(
                reason: "channel_already_live", detail: "this channel is already live from another encoder",
                remoteAddress: "198.51.100.7:4000", app: "live", keyFingerprint: "ab", channelID: "c1", channelName: "demo"),
            to: "channel-demo", metadata: EventMetadata(actor: EventActor(.encoder, id: "198.51.100.7:4000")))
        let change = QualityChanged(
            sessionID: story.session, channelID: "c1",
            transition: QualityTransition(
                from: .high, to: .medium, probing: nil, reason: .bandwidth, detail: "bandwidth 2.4 Mbps under 5 Mbps for 10 s",
                figures: QualityFigures(lossRate: 0.001, bandwidth: 2_400_000, rttMilliseconds: 40), time: Date()))
        let changeID = UUID()
        story.quality = try await store.append(
            to: stream, expectedVersion: .any,
            events: [try NewEvent(change, metadata: EventMetadata(actor: .system("quality")), eventId: changeID)]
        ).lastPosition
        story.renditionStopped = try await append(
            RenditionStopped(
                channel: "demo", rendition: "1080p", kind: .video, width: 1920, height: 1080, bitrate: 4_500_000, reason: .disabled,
                presentationTime: 12),
            metadata: EventMetadata(actor: .system("transcode"), causationId: changeID))
        story.resumed = try await append(
            StreamResumed(sessionID: story.session, channelID: "c1", remoteAddress: "203.0.113.9:50001", gapMilliseconds: 1_200))
        for viewers in [3, 9] {
            _ = try await append(AudienceSampled(sessionID: story.session, channelID: "c1", channelName: "demo", viewers: viewers))
        }
        for _ in 0..<3 {
            _ = try await append(
                ChatMessagePosted(channel: "demo", messageId: UUID(), userId: "u1", name: "ann", text: "hi", nonce: nil),
                to: "chat-demo", metadata: EventMetadata(actor: EventActor(.user, id: "u1")))
        }
        _ = try await append(
            ChatUserBanned(channel: "demo2", userId: "u9"), to: "chat-demo2", metadata: EventMetadata(actor: .admin, reason: "elsewhere"))
        story.banned = try await append(
            ChatUserBanned(channel: "demo", userId: "u1"), to: "chat-demo",
            metadata: EventMetadata(actor: EventActor(.moderator, id: "mod1"), reason: "spam links"))
        story.revoked = try await append(
            StreamKeyRevoked(channelId: UUID(), keyId: UUID()), to: "channel-demo",
            metadata: EventMetadata(actor: .admin, reason: "key leaked on stream"))
        story.ended = try await append(
            StreamEnded(
                sessionID: story.session, channelID: "c1", reason: .kicked, detail: "stream key revoked", durationSeconds: 95,
                bytesReceived: 3_000_000, reconnects: 1),
            metadata: EventMetadata(actor: .admin))
        _ = try await append(
            ChatMessagePosted(channel: "demo", messageId: UUID(), userId: "u2", name: "bo", text: "late", nonce: nil), to: "chat-demo",
            metadata: EventMetadata(actor: EventActor(.user, id: "u2")))
        return story
    }

    @Test func theTimelineTellsWhenItStartedEachQualityChangeAndWhoKickedIt() async throws {
        let store = try await TestDatabase.makeStore("timeline", registry: Self.registry)
        defer { Task { await store.shutdown() } }
        let story = try await Self.record(store)
        let history = SessionHistory(store: store)
        let span = try #require(try await history.span(session: story.session.uppercased()))
        #expect(span.channelName == "demo" && span.started.position == story.started && span.ended?.position == story.ended)
        let timeline = SessionTimeline.make(span, events: try await history.storyEvents(span), registry: store.registry)
        #expect(
            timeline.lines.map(\.position) == [
                story.started, story.refused, story.quality, story.renditionStopped, story.resumed, story.banned, story.revoked,
                story.ended,
            ])
        #expect(timeline.lines.map(\.kind) == ["published", "refused", "quality", "rendition", "resumed", "moderation", "key", "kicked"])
        let text = timeline.render()
        func line(_ position: Int64) -> String {
            text.split(separator: "\n").first { $0.hasPrefix("#\(position) ") }.map(String.init) ?? ""
        }
        #expect(line(story.started).contains("published over rtmp from 203.0.113.9:50000 to channel demo"), "\(text)")
        #expect(line(story.started).contains("(encoder obs)"))
        #expect(
            line(story.quality).contains("quality HIGH → MEDIUM because of bandwidth: bandwidth 2.4 Mbps under 5 Mbps for 10 s"), "\(text)")
        #expect(line(story.quality).contains("[loss 0.1 %, bandwidth 2.40 Mbps, rtt 40 ms]"))
        #expect(line(story.renditionStopped).contains("rendition 1080p stopped (disabled) after #\(story.quality)"))
        #expect(line(story.refused).contains("channel_already_live"))
        #expect(line(story.resumed).contains("reconnected from 203.0.113.9:50001 after a 1.2 s gap"))
        #expect(line(story.banned).contains("chat user u1 banned by moderator:mod1: spam links"))
        #expect(line(story.revoked).contains("stream key revoked by admin:admin: key leaked on stream"))
        #expect(
            line(story.ended).contains(
                "kicked by admin:admin: stream key revoked (key revoked at #\(story.revoked) by admin:admin: key leaked on stream)"),
            "\(text)")
        #expect(line(story.ended).contains("ended after 1 min 35 s"))
        #expect(!text.contains("demo2") && !text.contains("elsewhere"), "a neighbour channel's events stay out")
        #expect(timeline.lines.last?.cause == story.revoked)

        // By channel: the latest session; an unknown session or channel says how to find one.
        #expect(try await history.sessions(channel: "demo").map(\.sessionID) == [story.session])
        #expect(try await history.sessions(channel: "demo", since: Date().addingTimeInterval(-600)).count == 1)
        await #expect(throws: SessionHistory.Failure.self) { try await history.sessions(channel: "nobody") }
        #expect(try await history.span(session: UUID().uuidString) == nil)
        await #expect(throws: SessionHistory.Failure.notASessionID("x")) { try await history.span(session: "x") }
        let later = SessionTimeline.make(
            span, events: try await history.storyEvents(span), registry: store.registry, since: Date().addingTimeInterval(60))
        #expect(later.lines.isEmpty)
    }

    /// A moderator's reason is sealed under the user's key: the timeline opens it, and says
    /// `[erased]` once the user is erased.
    @Test func aSealedModeratorReasonIsOpenedUntilTheUserIsErased() async throws {
        let store = try await TestDatabase.makeStore("reasons", registry: Self.registry)
        defer { Task { await store.shutdown() } }
        let story = try await Self.record(store)
        let keys = ViewerKeys()
        let key = try await keys.sealingKey(for: "u1", in: store.readModels, logger: store.logger)
        let context = ChatModerationReason.context(ChatUserTimedOut.eventType, userId: "u1")
        let reason = PersonalData<ChatModerationReason>.sealed(try key.seal(ChatModerationReason("called ann a cheat"), context: context))
        let timeout = ChatUserTimedOut(channel: "demo", userId: "u1", seconds: 60, until: Date().addingTimeInterval(60), reason: reason)
        let position = try await store.append(
            to: "chat-demo", expectedVersion: .any,
            events: [try NewEvent(timeout, metadata: EventMetadata(actor: EventActor(.moderator, id: "mod1")))]
        ).lastPosition
        let history = SessionHistory(store: store)
        let span = try #require(try await history.span(session: story.session))
        let events = try await history.storyEvents(span) + (try await store.read(after: position - 1, limit: 1))
        let stored = try await SQL.column(store.url, "SELECT data::text FROM events WHERE position = \(position)")
        #expect(stored.count == 1 && !stored[0].contains("cheat"), "the reason is sealed in the log: \(stored)")

        let opened = try await ModerationReasons.open(events, store: store)
        #expect(opened == [position: "called ann a cheat"])
        let text = SessionTimeline.make(span, events: events, registry: store.registry, reasons: opened).render()
        #expect(
            text.contains("#\(position) ") && text.contains("chat user u1 timed out for 1 min 00 s by moderator:mod1: called ann a cheat"),
            "\(text)")

        _ = try await keys.destroy(userId: "u1", in: store.readModels, logger: store.logger)
        #expect(try await ModerationReasons.open(events, store: store) == [position: "[erased]"])
    }

    @Test func theReportSumsUpTheSessionOverHTTP() async throws {
        let store = try await TestDatabase.makeStore("report", registry: Self.registry)
        let channels = ChannelService(store: store)
        defer { Task { await store.shutdown() } }
        let story = try await Self.record(store)
        let gateway = Gateway(configuration: GatewayConfiguration(adminToken: "secret-token"), store: store, channels: channels)
        let app = Application(router: gateway.router())
        let auth: HTTPFields = [.authorization: "Bearer secret-token"]
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/sessions/\(story.session)/report", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/sessions/\(story.session)/report", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let report = try EventCoding.decoder().decode(SessionReport.self, from: Data(buffer: response.body))
                #expect(report.channel == "demo" && !report.live && report.encoder == "obs")
                #expect(report.firstPosition == story.started && report.ended?.position == story.ended)
                #expect(
                    report.ended?.reason == "kicked" && report.ended?.by == "admin:admin" && report.ended?.detail == "stream key revoked")
                #expect(report.ingest.samples == 3 && report.ingest.minBitrate == 2_400_000 && report.ingest.maxBitrate == 5_000_000)
                #expect(abs((report.ingest.averageBitrate ?? 0) - 3_333_333.33) < 1)
                #expect(report.ingest.droppedFrames == 3 && report.ingest.bytesReceived == 3_000_000)
                #expect(!report.ingest.windows.isEmpty && report.ingest.windows.map(\.samples).reduce(0, +) == 3)
                #expect(report.qualityChanges.map(\.position) == [story.quality] && report.finalQuality == "MEDIUM")
                #expect(report.qualityChanges.first?.reason == "bandwidth" && report.qualityChanges.first?.figures.bandwidth == 2_400_000)
                #expect(report.renditions.map(\.change) == ["stopped"])
                #expect(report.reconnects.map(\.gapMilliseconds) == [1_200])
                #expect(report.viewers.peak == 9 && report.viewers.average == 6 && report.viewers.series.count == 2)
                #expect(report.chat.messages == 3 && report.chat.bans == 1, "the message after the end and the other room's ban stay out")
            }
            try await client.execute(uri: "/v1/sessions/\(story.session)/timeline", method: .get, headers: auth) { response in
                #expect(response.status == .ok)
                let timeline = try EventCoding.decoder().decode(SessionTimeline.self, from: Data(buffer: response.body))
                #expect(timeline.lines.last?.kind == "kicked")
            }
            let unknown = UUID().uuidString.lowercased()
            try await client.execute(uri: "/v1/sessions/\(unknown)/report", method: .get, headers: auth) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("no session \(unknown)"))
            }
            try await client.execute(uri: "/v1/sessions/nope/report", method: .get, headers: auth) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("not a session id"))
            }
            // GET /v1/events: exact stream, prefix, position and actor filters.
            try await client.execute(uri: "/v1/events?stream=channel-demo&limit=1000", method: .get, headers: auth) { response in
                let body = String(buffer: response.body)
                #expect(body.contains("channel_already_live") && !body.contains("channel-demo2"))
            }
            try await client.execute(uri: "/v1/events?streamPrefix=channel-demo&limit=1000", method: .get, headers: auth) { response in
                #expect(String(buffer: response.body).contains("channel-demo2"))
            }
            try await client.execute(
                uri: "/v1/events?stream=channel-demo&actor=admin&to=\(story.revoked)", method: .get, headers: auth
            ) { response in
                let page = try JSONDecoder().decode(Page.self, from: Data(buffer: response.body))
                #expect(page.events.map(\.type) == ["ChannelCreated", "StreamKeyRevoked"])
            }
            try await client.execute(uri: "/v1/events?until=yesterday", method: .get, headers: auth) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("until must be an ISO 8601 time"))
            }
        }
    }

    struct Page: Decodable {
        struct Event: Decodable { var type: String }
        var events: [Event]
    }
}
