import EventStore
import Media
import Testing

@testable import Ingest

@Suite struct SessionRegistryTests {
    static func connection(_ token: UInt64, closed: @escaping @Sendable (String) -> Void = { _ in }) -> SessionRegistry.Connection {
        SessionRegistry.Connection(token: token) { _, description in closed(description) }
    }

    @Test func reconnectWithinGraceContinuesTheSession() async throws {
        let events = RecordedEvents()
        let registry = SessionRegistry.standalone(configuration: .init(graceWindow: .seconds(5)), sink: events.sink)
        guard
            case .started(let session) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "1.2.3.4:5", connection: Self.connection(1))
        else {
            Issue.record("not started")
            return
        }
        guard
            case .refused(.channelAlreadyLive("c1", "one")) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "9.9.9.9:1", connection: Self.connection(2))
        else {
            Issue.record("a second live publisher was accepted")
            return
        }
        let video = TrackInfo(kind: .video, codec: .h264, timebase: .milliseconds, width: 640, height: 360)
        let keyframe = MediaItem.packet(MediaPacket(track: .video, pts: 0, dts: 0, timebase: .milliseconds, isKeyframe: true, data: [1]))
        _ = session.yield(contentsOf: [.track(video), keyframe])
        await registry.connectionEnded(session.id, token: 1, reason: .encoderClosed, detail: nil)
        #expect(await registry.list().first?.connected == false)
        guard
            case .resumed(let resumed) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "1.2.3.4:6", connection: Self.connection(3))
        else {
            Issue.record("not resumed")
            return
        }
        #expect(resumed === session)
        #expect(session.reconnects == 1)
        #expect(session.remoteAddress == "1.2.3.4:6")
        // A stale end from the first connection changes nothing.
        await registry.connectionEnded(session.id, token: 1, reason: .encoderClosed, detail: nil)
        #expect(await registry.list().first?.connected == true)

        // The encoder's timestamps restart; the session's go on, after a discontinuity.
        _ = session.yield(contentsOf: [.track(video), keyframe])
        var iterator = session.media.makeAsyncIterator()
        _ = await iterator.next()
        _ = await iterator.next()
        guard case .discontinuity = await iterator.next() else {
            Issue.record("no discontinuity")
            return
        }
        _ = await iterator.next()
        guard case .packet(let resumedPacket)? = await iterator.next() else {
            Issue.record("no packet after the discontinuity")
            return
        }
        #expect(resumedPacket.dts == 1, "1 ms after the one packet played before (no frame duration known yet)")
        #expect(await events.waitUntil { $0.count == 1 })
        #expect(await events.types == ["StreamResumed"])
    }

    @Test func aBackupJoinsTheLiveSessionAndCarriesItWhenThePrimaryGoes() async throws {
        let events = RecordedEvents()
        let registry = SessionRegistry.standalone(configuration: .init(graceWindow: .seconds(5)), sink: events.sink)
        guard
            case .started(let session) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "1.2.3.4:5", connection: Self.connection(1))
        else {
            Issue.record("not started")
            return
        }
        let backup = SessionRegistry.Connection(token: 2, role: .backup) { _, _ in }
        guard
            case .attached(let attached) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "5.6.7.8:9", connection: backup)
        else {
            Issue.record("the backup was not attached")
            return
        }
        #expect(attached === session)
        guard
            case .refused(.backupAlreadyLive("c1", "one")) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "5.6.7.8:10",
                connection: SessionRegistry.Connection(token: 3, role: .backup) { _, _ in })
        else {
            Issue.record("a second backup was accepted")
            return
        }
        #expect(await registry.list().first?.inputs == [.primary, .backup])
        // A protocol error on the primary no longer ends a session the backup carries.
        await registry.connectionEnded(session.id, token: 1, reason: .protocolError, detail: "bad chunk")
        let row = try #require(await registry.list().first)
        #expect(row.connected && row.inputs == [.backup])
        guard
            case .attached = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "1.2.3.4:6", connection: Self.connection(4))
        else {
            Issue.record("the primary did not rejoin")
            return
        }
        await registry.connectionEnded(session.id, token: 2, reason: .encoderClosed, detail: nil)
        await registry.connectionEnded(session.id, token: 4, reason: .encoderClosed, detail: nil)
        #expect(await registry.list().first?.connected == false, "both gone: the grace window runs")
        #expect(!(await events.types.contains("StreamEnded")))
    }

    @Test func graceExpiryEndsTheSession() async throws {
        let events = RecordedEvents()
        let registry = SessionRegistry.standalone(configuration: .init(graceWindow: .milliseconds(200)), sink: events.sink)
        guard
            case .started(let session) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "1.2.3.4:5", connection: Self.connection(1))
        else {
            Issue.record("not started")
            return
        }
        await registry.connectionEnded(session.id, token: 1, reason: .encoderClosed, detail: nil)
        #expect(await events.waitUntil { $0.contains { $0.event is StreamEnded } })
        let ended = try #require(await events.events(StreamEnded.self).first)
        #expect(ended.reason == .encoderClosed)
        #expect(await events.types == ["StreamStarted", "StreamEnded"])
        #expect(await collect(session).isEmpty)
        guard
            case .started(let next) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "1.2.3.4:7", connection: Self.connection(2))
        else {
            Issue.record("not started again")
            return
        }
        #expect(next.id != session.id)
    }

    @Test func kickEndsWithTheAdminAsActorAndClosesTheConnection() async throws {
        let events = RecordedEvents()
        let registry = SessionRegistry.standalone(sink: events.sink)
        let closed = RecordedStrings()
        guard
            case .started(let session) = await registry.claim(
                channelID: "c1", channelName: "one", remoteAddress: "1.2.3.4:5",
                connection: Self.connection(1) { text in Task { await closed.append(text) } })
        else {
            Issue.record("not started")
            return
        }
        #expect(await registry.kick(channelID: "c1", by: .admin, reason: "key revoked"))
        #expect(await registry.count == 0)
        #expect(await events.waitUntil { $0.contains { $0.event is StreamEnded } })
        let (ended, entry) = try #require(await events.entries(of: StreamEnded.self).first)
        #expect(ended.reason == .kicked)
        #expect(ended.detail == "key revoked")
        #expect(entry.metadata.actor == .admin)
        #expect(entry.streamID == session.streamID)
        #expect(await registry.kick(sessionID: session.id) == false)
        try await Task.sleep(for: .milliseconds(50))
        #expect(await closed.values.first?.contains("stopped by an administrator") == true)
    }

    @Test func theLimitOfPublishersIsEnforced() async {
        let registry = SessionRegistry.standalone(configuration: .init(maxPublishers: 1), sink: { _, _, _ in })
        _ = await registry.claim(channelID: "a", channelName: "a", remoteAddress: "x", connection: Self.connection(1))
        guard
            case .refused(.serverFull(1)) = await registry.claim(
                channelID: "b", channelName: "b", remoteAddress: "y", connection: Self.connection(2))
        else {
            Issue.record("over the limit")
            return
        }
    }
}

actor RecordedStrings {
    private(set) var values: [String] = []
    func append(_ value: String) { values.append(value) }
}
