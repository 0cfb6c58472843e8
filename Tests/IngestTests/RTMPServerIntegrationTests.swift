import Channels
import EventStore
import Foundation
import IngestTestSupport
import Media
import Testing

@testable import Ingest

/// The real ffmpeg CLI publishing to an `RTMPServer` on a loopback port.
@Suite(.serialized) struct RTMPServerIntegrationTests {
    static let channel = InMemoryPublishAuthorizer.Channel(id: "ch-1", name: "first")

    static func makeServer(
        grace: Duration = .milliseconds(500), configure: (inout IngestConfiguration) -> Void = { _ in }
    ) async throws -> (RTMPServer, RecordedEvents, InMemoryPublishAuthorizer, Int) {
        let events = RecordedEvents()
        let authorizer = InMemoryPublishAuthorizer(keys: ["good-key": channel])
        var configuration = IngestConfiguration()
        configuration.sessions.graceWindow = grace
        configure(&configuration)
        let server = RTMPServer(configuration: configuration, authorizer: authorizer, eventSink: events.sink)
        let port = try await server.start(host: "127.0.0.1", port: 0)
        return (server, events, authorizer, port)
    }

    static func nextSession(_ server: RTMPServer, timeout: Duration = .seconds(15)) async -> LiveSession? {
        await withTimeout(timeout) {
            var iterator = server.sessions.makeAsyncIterator()
            return await iterator.next()
        }
    }

    @Test func ffmpegPublishBecomesALiveSessionWithMediaAndEvents() async throws {
        let (server, events, _, port) = try await Self.makeServer()
        let ffmpeg = try ffmpegPublish(port: port, key: "good-key", seconds: 4)
        let session = try #require(await Self.nextSession(server))
        // Iterated where the product's consumer iterates: on the connection's own event loop.
        let executor = try #require(session.mediaExecutor as? EventLoopTaskExecutor)
        let collector = Task(executorPreference: executor) {
            var items: [MediaItem] = []
            var everyItemOnTheLoop = true
            for await item in session.media {
                everyItemOnTheLoop = everyItemOnTheLoop && executor.loop.inEventLoop
                items.append(item)
            }
            return (items, everyItemOnTheLoop)
        }
        #expect(session.channelID == "ch-1")
        try await Task.sleep(for: .seconds(2))
        let listed = await server.registry.list()
        #expect(listed.count == 1)
        #expect(listed.first?.stats.receivedBitrate ?? 0 > 0)

        let result = await ffmpeg.wait()
        #expect(result.status == 0, "\(result.stderr)")
        let (items, onTheLoop) = await withTimeout(.seconds(10)) { await collector.value } ?? ([], false)
        #expect(onTheLoop, "the consumer was resumed off the connection's loop")

        let tracks = items.trackInfos
        let video = try #require(tracks.first { $0.kind == .video })
        let audio = try #require(tracks.first { $0.kind == .audio })
        #expect(video.codec == .h264)
        #expect(video.width == 640 && video.height == 360)
        #expect(video.frameRate == 30)
        guard case .avc(let record) = video.configuration else {
            Issue.record("no avcC")
            return
        }
        #expect(record.codecString.hasPrefix("avc1."))
        #expect(audio.codec == .aac && audio.sampleRate == 48000 && audio.channels == 2)

        let videoPackets = items.packets.filter { $0.track == .video }
        let audioPackets = items.packets.filter { $0.track == .audio }
        // 4 s at 30 fps; 48 kHz AAC is 46.875 frames per second.
        #expect((115...121).contains(videoPackets.count), "\(videoPackets.count) video packets")
        #expect((180...190).contains(audioPackets.count), "\(audioPackets.count) audio packets")
        #expect(videoPackets.first?.isKeyframe == true)
        #expect(videoPackets.filter(\.isKeyframe).count == 2)
        for packets in [videoPackets, audioPackets] {
            #expect(zip(packets, packets.dropFirst()).allSatisfy { $0.dts < $1.dts }, "DTS strictly increases")
            #expect(packets.allSatisfy { $0.timebase == .milliseconds && $0.pts >= $0.dts })
        }
        // The first item of each track is its TrackInfo.
        let firstVideoTrack = items.firstIndex { if case .track(let t) = $0 { t.kind == .video } else { false } }
        let firstVideoPacket = items.firstIndex { if case .packet(let p) = $0 { p.track == .video } else { false } }
        #expect(firstVideoTrack ?? .max < firstVideoPacket ?? -1)

        #expect(await events.waitUntil { $0.contains { $0.event is StreamEnded } })
        let types = await events.types
        #expect(types.first == "StreamStarted")
        #expect(types.last == "StreamEnded")
        #expect(types.filter { $0 == "IngestStatsSampled" }.count >= 1)
        let (started, startedEntry) = try #require(await events.entries(of: StreamStarted.self).first)
        #expect(started.channelID == "ch-1")
        #expect(started.protocol == "rtmp")
        #expect(started.video?.width == 640 && started.video?.height == 360 && started.video?.frameRate == 30)
        #expect(started.audio?.sampleRate == 48000 && started.audio?.channels == 2)
        #expect(started.encoder?.hasPrefix("Lavf") == true)
        #expect(startedEntry.streamID == session.streamID)
        #expect(startedEntry.metadata.actor.kind == .encoder)
        #expect(startedEntry.metadata.actor.id.hasPrefix("127.0.0.1:"))
        let stats = await events.events(IngestStatsSampled.self)
        // One event per window of intervals (closed at the end): the intervals are all there.
        let intervals = stats.flatMap(\.intervals)
        #expect(intervals.count >= 3)
        #expect(intervals.contains { $0.videoFrameRate > 20 && $0.receivedBitrate > 100_000 })
        // Reads are paced to about 40 ms of the stream (the default batch interval) once its rate is known.
        let paced = stats.compactMap(\.stats.readPacingBytes)
        #expect(
            paced.contains { mark in
                intervals.contains { abs(Double(mark) - Double($0.receivedBitrate) / 8 * 0.04) < Double(mark) * 0.5 }
            }, "marks \(paced), bitrates \(intervals.map(\.receivedBitrate))")
        let ended = try #require(await events.events(StreamEnded.self).first)
        #expect(ended.reason == .encoderClosed)
        #expect(ended.bytesReceived > 100_000)
        await server.shutdown()
    }

    @Test func aWrongKeyIsRefusedVisiblyInFFmpegsLog() async throws {
        let (server, events, _, port) = try await Self.makeServer()
        let result = try await ffmpegPublish(port: port, key: "wrong-key", seconds: 2).wait()
        #expect(result.status != 0)
        #expect(result.stderr.contains("unknown stream key"), "\(result.stderr)")
        #expect(await events.waitUntil { $0.contains { $0.event is PublishRejected } })
        let (rejected, entry) = try #require(await events.entries(of: PublishRejected.self).first)
        #expect(rejected.reason == "unknown_key")
        #expect(rejected.app == "live")
        #expect(rejected.keyFingerprint == StreamKey.fingerprint("wrong-key"))
        #expect(rejected.keyFingerprint?.contains("wrong") == false)
        #expect(entry.streamID == "ingest-127.0.0.1")
        #expect(entry.metadata.actor.kind == .encoder)
        #expect(await server.registry.count == 0)
        #expect(server.failedAttemptCounters.failures == 1)
        await server.shutdown()
    }

    @Test func aWrongApplicationAndPlaybackAreExplained() async throws {
        let (server, events, _, port) = try await Self.makeServer()
        let wrongApp = try await ffmpegPublish(port: port, key: "good-key", seconds: 1, app: "stream").wait()
        #expect(wrongApp.status != 0)
        #expect(wrongApp.stderr.contains("unknown application 'stream'"), "\(wrongApp.stderr)")
        #expect(await events.waitUntil { $0.contains { $0.event is PublishRejected } })
        #expect(await events.events(PublishRejected.self).first?.reason == "malformed_request")

        let play = try await ToolProcess.run(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-rw_timeout", "5000000",
                "-i", "rtmp://127.0.0.1:\(port)/live/good-key", "-f", "null", "-",
            ])
        #expect(play.status != 0)
        #expect(play.stderr.contains("does not play streams over RTMP"), "\(play.stderr)")
        // ffmpeg checks the server's FP9 digests (S1 and S2) when it plays: reaching `play` proves them.
        #expect(!play.stderr.contains("validating failed") && !play.stderr.contains("Signature mismatch"))
        await server.shutdown()
    }

    @Test func repeatedWrongKeysLockTheAddressOut() async throws {
        let (server, events, _, port) = try await Self.makeServer {
            $0.failedAttempts = .init(maxFailures: 2, window: .seconds(60), lockout: .seconds(30))
        }
        for _ in 0..<2 { _ = try await ffmpegPublish(port: port, key: "nope", seconds: 1).wait() }
        let locked = try await ffmpegPublish(port: port, key: "good-key", seconds: 1).wait()
        #expect(locked.status != 0)
        #expect(locked.stderr.contains("too many failed stream key attempts"), "\(locked.stderr)")
        #expect(await events.waitUntil { $0.filter { $0.event is PublishRejected }.count == 2 })
        let lockouts = await events.events(PublishLockedOut.self)
        #expect(lockouts.count == 1)
        #expect(lockouts.first?.remoteAddress == "127.0.0.1")
        #expect(server.failedAttemptCounters.lockouts == 1)
        await server.shutdown()
        // Refusals while locked out are counted, not logged one by one; shutdown flushes the count.
        let summary = await events.events(PublishRefusalsSummarised.self)
        #expect(summary.map(\.reasons) == [["too_many_failed_attempts": 1]])
    }

    @Test func aReconnectWithinGraceContinuesTheSession() async throws {
        let (server, events, _, port) = try await Self.makeServer(grace: .seconds(8))
        let first = try ffmpegPublish(port: port, key: "good-key", seconds: 2)
        let session = try #require(await Self.nextSession(server))
        let collector = Task { await collect(session) }
        #expect(await first.wait().status == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(await server.registry.list().first?.connected == false)
        let second = try ffmpegPublish(port: port, key: "good-key", seconds: 2)
        #expect(await second.wait().status == 0)
        #expect(await server.registry.session(channelID: "ch-1") === session)
        await session.kick(reason: "test over")
        let items = await withTimeout(.seconds(10)) { await collector.value } ?? []
        #expect(items.discontinuities == 1)
        let afterBreak = Array(items.drop { if case .discontinuity = $0 { false } else { true } })
        #expect(afterBreak.trackInfos.count == 2, "track infos repeated after the discontinuity")
        #expect(items.packets.filter { $0.track == .video }.count >= 110)
        #expect(await events.waitUntil { $0.contains { $0.event is StreamEnded } })
        #expect(await events.types.filter { $0 == "StreamStarted" }.count == 1)
        #expect(await events.events(StreamResumed.self).first?.sessionID == session.id.uuidString.lowercased())
        #expect(await events.events(StreamEnded.self).first?.reconnects == 1)
        await server.shutdown()
    }

    @Test func aKickEndsTheSessionAndTheEncoder() async throws {
        let (server, events, authorizer, port) = try await Self.makeServer()
        let ffmpeg = try ffmpegPublish(port: port, key: "good-key", seconds: 30)
        let session = try #require(await Self.nextSession(server))
        let collector = Task { await collect(session) }
        try await Task.sleep(for: .seconds(2))
        authorizer.revoke(key: "good-key", by: "admin")
        #expect(await server.registry.kick(channelID: "ch-1", by: .admin, reason: "stream key revoked"))
        let result = await withTimeout(.seconds(10)) { await ffmpeg.wait() }
        if result == nil { ffmpeg.process.terminate() }
        #expect(result != nil, "ffmpeg kept publishing after the kick")
        _ = await withTimeout(.seconds(5)) { await collector.value }
        #expect(await events.waitUntil { $0.contains { $0.event is StreamEnded } })
        let (ended, entry) = try #require(await events.entries(of: StreamEnded.self).first)
        #expect(ended.reason == .kicked)
        #expect(entry.metadata.actor == .admin)
        #expect(await events.types.filter { $0 == "StreamEnded" }.count == 1)

        // The revoked key is now refused with when and by whom.
        let again = try await ffmpegPublish(port: port, key: "good-key", seconds: 1).wait()
        #expect(again.stderr.contains("stream key revoked"), "\(again.stderr)")
        await server.shutdown()
    }
}

func withTimeout<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async -> T?) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: duration)
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}
