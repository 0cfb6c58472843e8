import EventStore
import Foundation
import Testing

@testable import Ingest

/// Strangers on the RTMP port: each test asserts the bound, not only that nothing broke.
@Suite(.serialized) struct RTMPHostileClientTests {
    @Test func aBadKeyFloodFromOneAddressAddsAHandfulOfEvents() async throws {
        let (server, events, _, port) = try await RTMPServerIntegrationTests.makeServer {
            $0.failedAttempts = .init(maxFailures: 5, window: .seconds(60), lockout: .seconds(300))
        }
        let attempts = 120
        for attempt in 0..<attempts {
            let client = try await TestRTMPClient.connect(port: port)
            try? await client.publish(key: "wrong-\(attempt)")
            _ = await client.waitForClose(timeout: .seconds(5))
            await client.close()
        }
        await server.shutdown()
        let recorded = await events.types
        // Five bad keys, the lock-out, and one summary of everything refused while locked out.
        #expect(recorded.count <= 10, "\(recorded)")
        #expect(await events.events(PublishRejected.self).count == 5)
        #expect(await events.events(PublishLockedOut.self).count == 1)
        let summaries = await events.events(PublishRefusalsSummarised.self)
        #expect(summaries.count == 1)
        #expect(summaries.first?.remoteAddress == "127.0.0.1")
        #expect(summaries.first?.count == attempts - 5)
        #expect(summaries.first?.reasons == ["too_many_failed_attempts": attempts - 5])
    }

    @Test func playIsRefusedOnceAndTheConnectionClosed() async throws {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer()
        let client = try await TestRTMPClient.connect(port: port)
        try await client.handshake()
        try await client.command([.string("connect"), .number(1), .object(["app": .string("live")])])
        try await client.command([.string("play"), .number(2), .null, .string("anything")], stream: 1)
        #expect(await client.waitForStatus("NetStream.Play.Failed")?.contains("HLS") == true)
        #expect(await client.waitForClose(timeout: .seconds(5)))
        await server.shutdown()
    }

    @Test func anOversizedCommandBeforePublishingClosesTheConnectionUnread() async throws {
        let (server, events, _, port) = try await RTMPServerIntegrationTests.makeServer()
        let client = try await TestRTMPClient.connect(port: port)
        try await client.handshake()
        // An 8 MiB AMF0 connect of nulls: refused on its header, before its body is buffered.
        let nulls = AMF0Encoder.encode([.string("connect"), .number(1)]) + [UInt8](repeating: 0x05, count: 8 * 1024 * 1024)
        try? await client.send(RTMPMessage(typeID: 20, chunkStreamID: 3, payload: nulls))
        #expect(await client.waitForClose(timeout: .seconds(5)))
        await server.shutdown()
        #expect(await events.types.isEmpty)
    }

    @Test func connectionsPastThePerAddressCapAreClosedAtOnce() async throws {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer { $0.maxConnectionsPerAddress = 3 }
        var held: [TestRTMPClient] = []
        for _ in 0..<3 { held.append(try await TestRTMPClient.connect(port: port)) }
        let extra = try await TestRTMPClient.connect(port: port)
        #expect(await extra.waitForClose(timeout: .seconds(5)))
        for client in held { #expect(await !client.waitForClose(timeout: .milliseconds(50))) }
        // A slot freed is a slot a publisher can use again.
        await held.removeFirst().close()
        try await Task.sleep(for: .milliseconds(200))
        let publisher = try await TestRTMPClient.connect(port: port)
        try await publisher.handshake()
        #expect(await !publisher.waitForClose(timeout: .milliseconds(300)))
        for client in held + [publisher] { await client.close() }
        await server.shutdown()
    }

    /// Idle sockets from an address never lock out its encoder: a quiet one that never asked to
    /// publish makes room, and a publishing connection is never taken for another.
    @Test func quietSocketsMakeRoomForAPublisherAndPublishersAreNeverTaken() async throws {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer {
            $0.maxConnectionsPerAddress = 3
            $0.quietBeforeReuse = .milliseconds(300)
        }
        var idle: [TestRTMPClient] = []
        for _ in 0..<2 { idle.append(try await TestRTMPClient.connect(port: port)) }
        let publisher = try await TestRTMPClient.connect(port: port)
        try await publisher.publish(key: "good-key")
        #expect(await publisher.waitForStatus("NetStream.Publish.Start") != nil)
        try await Task.sleep(for: .milliseconds(600))

        // Full: each new connection takes an idle one's place, never the publisher's.
        var newer: [TestRTMPClient] = []
        for _ in 0..<2 {
            let next = try await TestRTMPClient.connect(port: port)
            try await next.handshake()
            newer.append(next)
        }
        for client in idle { #expect(await client.waitForClose(timeout: .seconds(2))) }
        #expect(await !publisher.waitForClose(timeout: .milliseconds(100)))
        #expect(server.reusedConnectionCount == 2)

        // The newer ones are not quiet yet and the publisher is busy: the next is refused.
        let refused = try await TestRTMPClient.connect(port: port)
        #expect(await refused.waitForClose(timeout: .seconds(2)))
        #expect(await !publisher.waitForClose(timeout: .milliseconds(100)))
        for client in newer + [publisher, refused] + idle { await client.close() }
        await server.shutdown()
    }
}
