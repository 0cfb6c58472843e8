import CSRT
import Channels
import EventStore
import Foundation
import IngestTestSupport
import Media
import TestSupport
import Testing

@testable import Ingest

/// Real SRT publishers (ffmpeg, srt-live-transmit, a libsrt caller) against an `SRTServer`
/// sharing its registry with an `RTMPServer`, on loopback.
@Suite(.serialized) struct SRTServerIntegrationTests {
    static let channel = InMemoryPublishAuthorizer.Channel(id: "ch-srt", name: "srt-channel")

    struct Harness {
        var rtmp: RTMPServer
        var srt: SRTServer
        var events: RecordedEvents
        var authorizer: InMemoryPublishAuthorizer
        var port: Int

        func shutdown() async {
            await srt.shutdown()
            await rtmp.shutdown()
        }
    }

    static func makeServer(
        grace: Duration = .milliseconds(500), srt configuration: SRTConfiguration = SRTConfiguration(),
        configure: (inout IngestConfiguration) -> Void = { _ in }
    ) throws -> Harness {
        let events = RecordedEvents()
        let authorizer = InMemoryPublishAuthorizer(keys: ["good-key": channel])
        var ingest = IngestConfiguration()
        ingest.sessions.graceWindow = grace
        configure(&ingest)
        let rtmp = RTMPServer(configuration: ingest, authorizer: authorizer, eventSink: events.sink)
        let srt = SRTServer(configuration: configuration, sharingSessionsWith: rtmp)
        let port = try srt.start(host: "127.0.0.1", port: 0)
        return Harness(rtmp: rtmp, srt: srt, events: events, authorizer: authorizer, port: port)
    }

    /// The URL as the banner and the channel API print it: ffmpeg takes the stream id verbatim.
    static func url(port: Int, streamID: String, extra: String = "") -> String {
        "srt://127.0.0.1:\(port)?streamid=\(streamID)\(extra)"
    }

    static func ffmpeg(
        port: Int, streamID: String = "#!::r=live/good-key,m=publish", seconds: Int, extra: String = ""
    ) throws -> ToolProcess {
        try ToolProcess(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-re",
                "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                "-t", "\(seconds)",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-b:a", "96k", "-ac", "2",
                "-f", "mpegts", url(port: port, streamID: streamID, extra: extra),
            ])
    }

    static func nextSession(_ server: SRTServer, timeout: Duration = .seconds(15)) async -> LiveSession? {
        await withTimeout(timeout) {
            var iterator = server.sessions.makeAsyncIterator()
            return await iterator.next()
        }
    }

    @Test func ffmpegPublishOverSRTBecomesALiveSessionWithSRTStatistics() async throws {
        let harness = try Self.makeServer()
        let ffmpeg = try Self.ffmpeg(port: harness.port, seconds: 8)
        guard let session = await Self.nextSession(harness.srt, timeout: .seconds(30)) else {
            let refusals = await harness.events.events(PublishRejected.self).map(\.detail)
            Issue.record("no session; ffmpeg: \(await ffmpeg.wait().stderr); refusals: \(refusals)")
            await harness.shutdown()
            return
        }
        let collector = Task { await collect(session) }
        #expect(session.channelID == "ch-srt")
        #expect(session.protocol == "srt")
        // Polled: on a starved machine ffmpeg may deliver its stream late and in a burst.
        var listed: [LiveSessionSummary] = []
        for _ in 0..<60 {
            try await Task.sleep(for: .milliseconds(100))
            listed = await harness.rtmp.registry.list()
            if listed.first?.stats.srt != nil, listed.first?.stats.receivedBitrate ?? 0 > 0 { break }
        }
        #expect(listed.count == 1 && listed.first?.protocol == "srt", "\(listed)")
        #expect(listed.first?.stats.receivedBitrate ?? 0 > 0)
        #expect(listed.first?.stats.srt != nil)

        let result = await ffmpeg.wait()
        #expect(result.status == 0, "\(result.stderr)")
        let items = await withTimeout(.seconds(10)) { await collector.value } ?? []
        let video = try #require(items.trackInfos.first { $0.kind == .video })
        let audio = try #require(items.trackInfos.first { $0.kind == .audio })
        #expect(video.codec == .h264 && video.width == 640 && video.height == 360 && video.frameRate == 30)
        guard case .avc(let record) = video.configuration else {
            Issue.record("no avcC")
            return
        }
        #expect(record.codecString.hasPrefix("avc1.") && record.nalUnitLengthSize == 4)
        #expect(audio.codec == .aac && audio.sampleRate == 48000 && audio.channels == 2)
        let videoPackets = items.packets.filter { $0.track == .video }
        let audioPackets = items.packets.filter { $0.track == .audio }
        // Live mode: the sender drops what is in flight when it closes (no linger), and packets it
        // could not send in time on a loaded machine (too-late drop).
        #expect((150...241).contains(videoPackets.count), "\(videoPackets.count) video packets")
        #expect((230...376).contains(audioPackets.count), "\(audioPackets.count) audio packets")
        #expect(videoPackets.first?.isKeyframe == true)
        #expect(videoPackets.allSatisfy { $0.timebase == .mpeg90kHz && $0.pts >= $0.dts })
        #expect(zip(videoPackets, videoPackets.dropFirst()).allSatisfy { $0.dts < $1.dts })

        #expect(await harness.events.waitUntil { $0.contains { $0.event is StreamEnded } })
        let types = await harness.events.types
        #expect(types.first == "StreamStarted")
        #expect(types.last == "StreamEnded")
        let (started, entry) = try #require(await harness.events.entries(of: StreamStarted.self).first)
        #expect(started.protocol == "srt")
        #expect(
            started.video?.codec == "h264" && started.video?.width == 640 && started.video?.height == 360 && started.video?.frameRate == 30)
        #expect(started.audio?.codec == "aac" && started.audio?.sampleRate == 48000 && started.audio?.channels == 2)
        #expect(entry.streamID == session.streamID)
        #expect(entry.metadata.actor.id.hasPrefix("127.0.0.1:"))
        let stats = await harness.events.events(IngestStatsSampled.self)
        // One event per window of intervals (closed at the end): the intervals are all there.
        let intervals = stats.flatMap(\.intervals)
        #expect(intervals.count >= 2)
        #expect(intervals.contains { ($0.srt?.receiveRateMbps ?? 0) > 0.05 && ($0.srt?.packetsReceived ?? 0) > 0 })
        // The last sample is taken after the caller hung up, when libsrt may no longer report the link.
        #expect(stats.compactMap(\.stats.srt).count >= stats.count - 1)
        #expect(stats.compactMap(\.stats.srt).allSatisfy { $0.latencyMilliseconds >= 120 })
        let ended = try #require(await harness.events.events(StreamEnded.self).first)
        #expect(ended.reason == .encoderClosed)
        #expect(ended.bytesReceived > 100_000)
        await harness.shutdown()
    }

    @Test func aWrongKeyIsRefusedInTheHandshakeWithTheRejectReason() async throws {
        let harness = try Self.makeServer()
        let caller = await SRTTestCaller.connect(port: harness.port, streamID: "#!::r=live/wrong-key,m=publish")
        guard case .failure(let refused) = caller else {
            Issue.record("a wrong key was accepted")
            return
        }
        #expect(refused.rejectReason == SRT_REJX_NOTFOUND)
        let ffmpeg = try await Self.ffmpeg(port: harness.port, streamID: "live/wrong-key", seconds: 1).wait()
        #expect(ffmpeg.status != 0)
        #expect(ffmpeg.stderr.lowercased().contains("reject") || ffmpeg.stderr.contains("Connection setup failure"), "\(ffmpeg.stderr)")
        #expect(await harness.events.waitUntil { $0.filter { $0.event is PublishRejected }.count == 2 })
        let (rejected, entry) = try #require(await harness.events.entries(of: PublishRejected.self).first)
        #expect(rejected.reason == "unknown_key")
        #expect(rejected.protocol == "srt")
        #expect(rejected.app == "live")
        #expect(rejected.keyFingerprint == StreamKey.fingerprint("wrong-key"))
        #expect(entry.streamID == "ingest-127.0.0.1")
        #expect(await harness.rtmp.registry.count == 0)
        #expect(harness.srt.failedAttemptCounters.failures == 2)
        await harness.shutdown()
    }

    @Test func playbackMalformedIDsAndRevokedKeysAreRefused() async throws {
        let harness = try Self.makeServer()
        let cases: [(String, Int32, String)] = [
            ("#!::r=live/good-key,m=request", SRT_REJX_BAD_MODE, "malformed_request"),
            ("#!::r=vod/good-key,m=publish", SRT_REJX_NOTFOUND, "malformed_request"),
            ("garbage", SRT_REJX_BAD_REQUEST, "malformed_request"),
        ]
        for (streamID, code, _) in cases {
            let result = await SRTTestCaller.connect(port: harness.port, streamID: streamID)
            guard case .failure(let refused) = result else {
                Issue.record("\(streamID) was accepted")
                continue
            }
            #expect(refused.rejectReason == code, "\(streamID)")
        }
        harness.authorizer.revoke(key: "good-key", by: "admin")
        let revoked = await SRTTestCaller.connect(port: harness.port, streamID: "live/good-key")
        guard case .failure(let refusal) = revoked else {
            Issue.record("a revoked key was accepted")
            return
        }
        #expect(refusal.rejectReason == SRT_REJX_FORBIDDEN)
        #expect(await harness.events.waitUntil { $0.filter { $0.event is PublishRejected }.count == 4 })
        let reasons = await harness.events.events(PublishRejected.self).map(\.reason)
        #expect(reasons == ["malformed_request", "malformed_request", "malformed_request", "revoked_key"])
        // A refusal that names a channel is in the channel's own stream, beside its other events.
        let revokedEntry = try #require(await harness.events.entries(of: PublishRejected.self).last)
        #expect(revokedEntry.1.streamID == "channel-\(Self.channel.name)")
        #expect(revokedEntry.0.channelName == Self.channel.name)
        let play = await harness.events.events(PublishRejected.self).first
        #expect(play?.detail.contains("does not play streams over SRT") == true)
        await harness.shutdown()
    }

    @Test func aPassphraseIsRequiredWhenSet() async throws {
        let harness = try Self.makeServer(srt: SRTConfiguration(passphrase: "correct-horse-battery"))
        let without = await SRTTestCaller.connect(port: harness.port, streamID: "live/good-key")
        guard case .failure = without else {
            Issue.record("a caller without the passphrase was accepted")
            return
        }
        let wrong = await SRTTestCaller.connect(port: harness.port, streamID: "live/good-key", passphrase: "wrong passphrase")
        guard case .failure = wrong else {
            Issue.record("a caller with a wrong passphrase was accepted")
            return
        }
        // The key check passed for both: their claims were never made, so the channel is free.
        let ffmpeg = try Self.ffmpeg(port: harness.port, seconds: 2, extra: "&passphrase=correct-horse-battery")
        let session = try #require(await Self.nextSession(harness.srt))
        let collector = Task { await collect(session) }
        #expect(await ffmpeg.wait().status == 0)
        let items = await withTimeout(.seconds(10)) { await collector.value } ?? []
        #expect(items.packets.count > 50)
        await harness.shutdown()
    }

    @Test func aKickClosesTheSRTSocket() async throws {
        let harness = try Self.makeServer()
        let ffmpeg = try Self.ffmpeg(port: harness.port, seconds: 20)
        let session = try #require(await Self.nextSession(harness.srt, timeout: .seconds(30)))
        let collector = Task { await collect(session) }
        try await Task.sleep(for: .seconds(2))
        #expect(await harness.rtmp.registry.kick(sessionID: session.id, by: .admin, reason: "test kick"))
        // Polled, not awaited: a waiter that cannot be cancelled would hold a timeout's task group open.
        let deadline = ContinuousClock.now + .seconds(15)
        while ffmpeg.process.isRunning, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let exited = !ffmpeg.process.isRunning
        if !exited { ffmpeg.process.terminate() }
        #expect(exited, "ffmpeg kept publishing after the kick")
        #expect(await harness.events.waitUntil { $0.contains { $0.event is StreamEnded } })
        collector.cancel()
        let (ended, entry) = try #require(await harness.events.entries(of: StreamEnded.self).first)
        #expect(ended.reason == .kicked)
        #expect(entry.metadata.actor == .admin)
        #expect(harness.srt.connectionCount == 0)
        await harness.shutdown()
    }

    @Test func aReconnectWithinTheGraceWindowContinuesTheSession() async throws {
        let harness = try Self.makeServer(grace: .seconds(5))
        let first = try await SRTTestCaller.connect(port: harness.port, streamID: "live/good-key").get()
        #expect(await first.send(TSTestWriter.stream(frames: 90)))
        let session = try #require(await Self.nextSession(harness.srt))
        let collector = Task { await collect(session) }
        try await Task.sleep(for: .seconds(1))
        first.close()
        try await Task.sleep(for: .seconds(1))

        // Back within the grace window: the same session continues, after a discontinuity.
        let second = try await SRTTestCaller.connect(port: harness.port, streamID: "#!::m=publish,r=live/good-key").get()
        #expect(await second.send(TSTestWriter.stream(frames: 90, start: 900_000)))
        #expect(await harness.events.waitUntil { $0.contains { $0.event is StreamResumed } })
        let listed = await harness.rtmp.registry.list()
        #expect(listed.count == 1 && listed.first?.id == session.id && listed.first?.reconnects == 1, "\(listed)")
        try await Task.sleep(for: .seconds(1))
        second.close()

        #expect(await harness.events.waitUntil(timeout: .seconds(20)) { $0.contains { $0.event is StreamEnded } })
        let items = await withTimeout(.seconds(10)) { await collector.value } ?? []
        #expect(items.contains { if case .discontinuity = $0 { true } else { false } })
        #expect(
            items.packets.filter { $0.track == .video }.count >= 120, "\(items.packets.filter { $0.track == .video }.count) video frames")
        #expect(await harness.events.events(StreamStarted.self).count == 1)
        let ended = try #require(await harness.events.events(StreamEnded.self).first)
        #expect(ended.reconnects == 1)
        await harness.shutdown()
    }

    @Test func srtLiveTransmitPublishesATransportStreamFile() async throws {
        let transmit = "/usr/bin/srt-live-transmit"
        guard FileManager.default.isExecutableFile(atPath: transmit) else {
            Issue.record("srt-live-transmit is missing: run ops/install (Debian package srt-tools)")
            return
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-srt-\(UUID()).ts")
        defer { try? FileManager.default.removeItem(at: file) }
        let made = try await ToolProcess.run(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                "-f", "lavfi", "-i", "sine=sample_rate=44100", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast",
                "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", "-f", "mpegts", file.path,
            ])
        #expect(made.status == 0, "\(made.stderr)")
        let harness = try Self.makeServer()
        // The bare stream id form; srt-live-transmit reads stdin (a pipe) as fast as it can, drops
        // what it reads before its SRT connection is up (hence the pause), and stays connected
        // after the end of the file until it is stopped.
        let sender = try ToolProcess(
            "/bin/sh",
            [
                "-c",
                "(sleep 1; cat '\(file.path)') | exec \(transmit) -q -a:no -chunk:1316 file://con 'srt://127.0.0.1:\(harness.port)?streamid=live/good-key&latency=200'",
            ])
        let session = try #require(await Self.nextSession(harness.srt))
        let collector = Task { await collect(session) }
        try await Task.sleep(for: .seconds(4))
        sender.process.terminate()
        let items = await withTimeout(.seconds(20)) { await collector.value } ?? []
        let video = items.trackInfos.first { $0.kind == .video }
        #expect(video?.width == 320 && video?.height == 240)
        #expect(items.trackInfos.first { $0.kind == .audio }?.sampleRate == 44100)
        #expect(items.packets.filter { $0.track == .video }.count >= 60, "\(items.packets.filter { $0.track == .video }.count)")
        #expect(await harness.events.waitUntil { $0.contains { $0.event is StreamEnded } })
        #expect(await harness.events.events(StreamStarted.self).first?.protocol == "srt")
        await harness.shutdown()
    }

    @Test func aChannelLiveOverRTMPRefusesSRTAndMalformedTSEndsTheSession() async throws {
        let harness = try Self.makeServer()
        let rtmpPort = try await harness.rtmp.start(host: "127.0.0.1", port: 0)
        let rtmp = try ffmpegPublish(port: rtmpPort, key: "good-key", seconds: 4)
        let session = try #require(await Self.nextSession(harness.srt))
        let drain = Task { await collect(session) }
        #expect(session.protocol == "rtmp")
        let conflict = await SRTTestCaller.connect(port: harness.port, streamID: "live/good-key")
        guard case .failure(let refused) = conflict else {
            Issue.record("SRT took a channel already live over RTMP")
            return
        }
        #expect(refused.rejectReason == SRT_REJX_CONFLICT)
        #expect(await harness.events.waitUntil { $0.contains { ($0.event as? PublishRejected)?.reason == "channel_already_live" } })
        let conflictEntry = try #require(await harness.events.entries(of: PublishRejected.self).last)
        #expect(conflictEntry.1.streamID == "channel-\(Self.channel.name)")
        _ = await rtmp.wait()
        _ = await drain.value
        #expect(await harness.events.waitUntil { $0.contains { $0.event is StreamEnded } })

        // Garbage instead of MPEG-TS: the session ends with the reason, nothing traps.
        let caller = try await SRTTestCaller.connect(port: harness.port, streamID: "live/good-key").get()
        let garbage = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }.map { $0 == 0x47 ? 0x48 : $0 }
        _ = await caller.send(garbage)
        #expect(
            await harness.events.waitUntil(timeout: .seconds(15)) { entries in
                entries.contains { ($0.event as? StreamEnded)?.reason == .protocolError }
            })
        let ended = await harness.events.events(StreamEnded.self).last
        #expect(ended?.detail?.contains("not MPEG-TS") == true, "\(String(describing: ended?.detail))")
        caller.close()
        await harness.shutdown()
    }
}

/// The listen callback's key check from the in-memory key table that follows the real event log:
/// events in the log, revocations reaching the callback, and how long libsrt's thread was held.
@Suite(.serialized) struct SRTPostgresTests {
    @Test(.timeLimit(.minutes(2))) func keysAreCheckedFromTheLogFollowingTableWithoutWaitingOnTheDatabase() async throws {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        registry.registerIngestEvents()
        let store = try await TestDatabase.makeStore("srt", registry: registry)
        let channels = ChannelService(store: store)
        channels.start()
        let (_, key) = try await channels.create(name: "srt-demo", metadata: EventMetadata(actor: .admin))
        var ingest = IngestConfiguration()
        ingest.failedAttempts = .init(maxFailures: 1000)
        ingest.refusals.allowance = 100
        let rtmp = RTMPServer(
            configuration: ingest, authorizer: ChannelKeyAuthorizer(channels: channels),
            eventSink: { stream, event, metadata in
                _ = try? await store.append(to: stream, expectedVersion: .any, events: [try NewEvent(event, metadata: metadata)])
            })
        let keys = StreamKeyCache(store: store)
        let follower = Task { await keys.run() }
        #expect(await keys.waitUntilLoaded())
        let srt = SRTServer(sharingSessionsWith: rtmp, keys: keys)
        let port = try srt.start(host: "127.0.0.1", port: 0)

        for attempt in 0..<20 {
            let streamID = attempt % 2 == 0 ? "#!::r=live/sk_wrong\(attempt),m=publish" : "live/sk_unknown\(attempt)"
            let result = await SRTTestCaller.connect(port: port, streamID: streamID)
            if case .failure(let refused) = result {
                #expect(refused.rejectReason == SRT_REJX_NOTFOUND)
            } else {
                Issue.record("an unknown key was accepted")
            }
        }
        let caller = try await SRTTestCaller.connect(port: port, streamID: "#!::r=live/\(key.text),m=publish").get()
        var listed = false
        for _ in 0..<100 where !listed {
            listed = await rtmp.registry.list().first?.protocol == "srt"
            if !listed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(listed)
        caller.close()

        // A revocation written through the channels service reaches the table, and the callback refuses the key.
        func lastKeyEvent() async throws -> Int64 {
            try await store.read(after: 0, limit: 10_000, filter: StreamKeyTable.filter).last?.position ?? 0
        }
        try await channels.revokeKey(name: "srt-demo", metadata: EventMetadata(actor: .admin, reason: "leaked"))
        #expect(await keys.waitUntil(try await lastKeyEvent()))
        let refused = await SRTTestCaller.connect(port: port, streamID: "#!::r=live/\(key.text),m=publish")
        guard case .failure(let refusal) = refused else {
            Issue.record("a revoked key was accepted")
            return
        }
        #expect(refusal.rejectReason == SRT_REJX_FORBIDDEN)
        // A rotated key works at once, from the same table.
        let rotated = try await channels.rotateKey(name: "srt-demo", metadata: EventMetadata(actor: .admin))
        #expect(await keys.waitUntil(try await lastKeyEvent()))
        let fresh = try await SRTTestCaller.connect(port: port, streamID: "live/\(rotated.text)").get()
        fresh.close()

        let timings = srt.authorizationTimings
        print(
            String(
                format: "SRT listen callback (keys from memory): %d checks, mean %.2f ms, max %.2f ms, %d registry waits given up",
                timings.count, timings.meanMilliseconds, timings.maxMilliseconds, timings.timeouts))

        await srt.shutdown()
        await rtmp.shutdown()
        let rejected = try await store.read(after: 0, filter: EventFilter(types: [PublishRejected.eventType]))
        #expect(rejected.count == 21)
        let revokedRejection = try rejected.last.map { try store.registry.decode($0, as: PublishRejected.self) }
        #expect(revokedRejection?.reason == "revoked_key")
        #expect(revokedRejection?.keyFingerprint == StreamKey.fingerprint(key.text))
        follower.cancel()
        await follower.value
        await channels.shutdown()
        await store.shutdown()
    }
}
