import EventStore
import Foundation
import Media
import Testing

@testable import Ingest

/// Timeouts, limits and backpressure, driven by a hand-written publisher.
@Suite(.serialized) struct RTMPServerLimitsTests {
    static let sps: [UInt8] = [
        0x67, 0x42, 0xC0, 0x1E, 0xD9, 0x00, 0xA0, 0x2F, 0xF9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3C, 0x0F,
        0x16, 0x2E, 0x48,
    ]
    static let pps: [UInt8] = [0x68, 0xCB, 0x83, 0xCB, 0x20]

    static func videoSequenceHeader() -> RTMPMessage {
        let record = AVCDecoderConfigurationRecord(
            profileIndication: 0x42, profileCompatibility: 0xC0, levelIndication: 0x1E,
            sequenceParameterSets: [sps], pictureParameterSets: [pps])
        return RTMPMessage(typeID: 9, messageStreamID: 1, chunkStreamID: 6, payload: [0x17, 0, 0, 0, 0] + record.serialized())
    }

    static func videoFrame(_ index: Int, size: Int) -> RTMPMessage {
        let key = index % 30 == 0
        let nal = [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: size)
        let length = RTMPMessage.bigEndian(UInt32(size + 1))
        return RTMPMessage(
            typeID: 9, timestamp: UInt32(index * 33), messageStreamID: 1, chunkStreamID: 6,
            payload: [key ? 0x17 : 0x27, 1, 0, 0, 0] + length + [key ? 0x65 : 0x41] + nal)
    }

    @Test func aSilentPublisherTimesOut() async throws {
        let (server, events, _, port) = try await RTMPServerIntegrationTests.makeServer { $0.idleTimeout = .seconds(1) }
        let client = try await TestRTMPClient.connect(port: port)
        try await client.publish(key: "good-key")
        #expect(await client.waitForStatus("NetStream.Publish.Start") != nil)
        #expect(await client.waitForClose(timeout: .seconds(15)))
        #expect(await client.waitForStatus("NetStream.Publish.Idle")?.contains("no audio or video") == true)
        #expect(await events.waitUntil { $0.contains { $0.event is StreamEnded } })
        let (ended, entry) = try #require(await events.entries(of: StreamEnded.self).first)
        #expect(ended.reason == .timeout)
        #expect(entry.metadata.actor.kind == .system)
        await server.shutdown()
    }

    @Test func shutdownEndsSessionsAndClosesEveryConnection() async throws {
        let (server, events, _, port) = try await RTMPServerIntegrationTests.makeServer()
        let publisher = try await TestRTMPClient.connect(port: port)
        try await publisher.publish(key: "good-key")
        #expect(await publisher.waitForStatus("NetStream.Publish.Start") != nil)
        let idle = try await TestRTMPClient.connect(port: port)
        try await idle.handshake()
        await server.shutdown()
        #expect(await publisher.waitForClose(timeout: .seconds(15)))
        #expect(await idle.waitForClose(timeout: .seconds(15)))
        #expect(await publisher.waitForStatus("NetStream.Publish.Denied")?.contains("shutting down") == true)
        let ended = await events.events(StreamEnded.self)
        #expect(ended.map(\.reason) == [.shutdown])
    }

    @Test func aStalledHandshakeIsClosed() async throws {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer { $0.handshakeTimeout = .milliseconds(300) }
        let client = try await TestRTMPClient.connect(port: port)
        try await client.send([3] + [UInt8](repeating: 0, count: 100))
        #expect(await client.waitForClose(timeout: .seconds(45)))
        await server.shutdown()
    }

    @Test func theConnectionLimitIsExplainedToTheEncoder() async throws {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer { $0.maxConnections = 1 }
        let first = try await TestRTMPClient.connect(port: port)
        try await first.handshake()
        let second = try await TestRTMPClient.connect(port: port)
        try? await second.publish(key: "good-key")  // the server may close before publish is sent
        let description = await second.waitForStatus("NetConnection.Connect.Rejected")
        #expect(description?.contains("limit of 1 connections") == true)
        #expect(await second.waitForClose(timeout: .seconds(15)))
        await first.close()
        await server.shutdown()
    }

    @Test func aSlowConsumerPausesTheSocketInsteadOfBuffering() async throws {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer {
            $0.idleTimeout = .seconds(3)
            $0.sessions.mediaLowWatermark = 4
            $0.sessions.mediaHighWatermark = 16
        }
        let client = try await TestRTMPClient.connect(port: port)
        try await client.publish(key: "good-key")
        #expect(await client.waitForStatus("NetStream.Publish.Start") != nil)
        // Media starts at once: the idle clock runs from the publish.
        try await client.send(Self.videoSequenceHeader())
        let frames = 600
        let frameSize = 20_000
        let writer = Task {
            for index in 0..<frames { try await client.send(Self.videoFrame(index, size: frameSize)) }
        }
        let session = try #require(await RTMPServerIntegrationTests.nextSession(server))
        // Nobody reads the media for longer than the idle timeout.
        try await Task.sleep(for: .seconds(5))
        #expect(session.queueDepth <= 16 + RTMPConnectionHandler.maximumBatch, "queue depth \(session.queueDepth)")
        let listed = try #require(await server.registry.list().first)
        #expect(listed.stats.backpressured)
        #expect(listed.bytesReceived < UInt64(frames * frameSize / 2), "the server kept reading: \(listed.bytesReceived) bytes")

        let consumer = Task { () -> [MediaPacket] in
            var packets: [MediaPacket] = []
            for await item in session.media {
                guard case .packet(let packet) = item else { continue }
                packets.append(packet)
                if packets.count == frames { break }
            }
            return packets
        }
        let packets = await withTimeout(.seconds(60)) { await consumer.value } ?? []
        try await writer.value
        #expect(packets.count == frames)
        #expect(packets.map(\.dts) == (0..<frames).map { Int64($0 * 33) })
        #expect(packets.first?.data.count == frameSize + 5)
        await client.close()
        await server.shutdown()
    }

    /// Paced reads wake at about 40 ms of the stream; an encoder that then pauses with less than
    /// that in the socket must not have its last frame held until it sends again (or times out).
    @Test func theLastFrameBeforeAPauseIsNotHeldByPacing() async throws {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer { $0.idleTimeout = .seconds(5) }
        let client = try await TestRTMPClient.connect(port: port)
        try await client.publish(key: "good-key")
        #expect(await client.waitForStatus("NetStream.Publish.Start") != nil)
        try await client.send(Self.videoSequenceHeader())
        let session = try #require(await RTMPServerIntegrationTests.nextSession(server))
        let received = Task { () -> [ContinuousClock.Instant] in
            var arrivals: [ContinuousClock.Instant] = []
            for await item in session.media {
                guard case .packet = item else { continue }
                arrivals.append(.now)
            }
            return arrivals
        }
        // About 5 Mbit/s in real time for 2.5 s: the mark rises to some 25 KB.
        let frames = 75
        let start = ContinuousClock.now
        var marks: [Int] = []
        for index in 0..<frames {
            try await Task.sleep(until: start + .milliseconds(33 * index))
            try await client.send(Self.videoFrame(index, size: 20_000))
            if index % 15 == 14, let mark = await server.registry.list().first?.stats.readPacingBytes { marks.append(mark) }
        }
        // A loaded machine can stall the sender long enough for every sample to find pacing off.
        guard let mark = marks.max() else { try Test.cancel("reads were never paced on this machine's load; nothing to check") }
        #expect(mark > 1_000)
        try await client.send(Self.videoFrame(frames, size: 100))
        let sent = ContinuousClock.now
        try await Task.sleep(for: .seconds(3))
        await client.close()
        let arrivals = await withTimeout(.seconds(15)) { await received.value } ?? []
        #expect(arrivals.count == frames + 1)
        // At most a stats tick plus the pacing window late; before the fix, up to three ticks.
        let late = try #require(arrivals.last) - sent
        #expect(late < .milliseconds(2_500), "the last frame arrived \(late) after it was sent")
        await server.shutdown()
    }
}
