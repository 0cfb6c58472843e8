import IngestTestSupport
import NIOCore
import NIOEmbedded
import Testing

@testable import Ingest

/// The RTMP handler on an `EmbeddedChannel`: the bytes it answers and when it closes.
@Suite struct RTMPConnectionHandlerTests {
    func channel(_ configure: (inout IngestConfiguration) -> Void = { _ in }) throws -> EmbeddedChannel {
        var configuration = IngestConfiguration()
        configure(&configuration)
        let server = RTMPServer(configuration: configuration, authorizer: InMemoryPublishAuthorizer(), eventSink: { _, _, _ in })
        let channel = EmbeddedChannel(handler: RTMPConnectionHandler(server: server))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1935)).wait()
        return channel
    }

    func c0c1() -> ByteBuffer {
        ByteBuffer(bytes: [3] + [UInt8](repeating: 0, count: 8) + RTMPHandshakeDigest.randomBytes(1528))
    }

    func written(_ channel: EmbeddedChannel) throws -> Int {
        var total = 0
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { total += buffer.readableBytes }
        return total
    }

    @Test func theHandshakeIsAnswered() throws {
        let channel = try channel()
        try channel.writeInbound(c0c1())
        #expect(try written(channel) == 1 + 2 * 1536)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    @Test func aBadVersionByteCloses() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(bytes: [0x47, 0x45, 0x54, 0x20]))
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test func repliesBeyondTheOutputBudgetCloseAtOnce() throws {
        let channel = try channel { $0.maxQueuedOutput = 1_000 }
        try channel.writeInbound(c0c1())
        channel.embeddedEventLoop.run()
        #expect(try written(channel) == 0, "3,073 bytes of handshake reply exceed a 1,000-byte budget: nothing is buffered")
        #expect(!channel.isActive)
    }

    @Test func aStalledHandshakeTimesOut() throws {
        let channel = try channel { $0.handshakeTimeout = .seconds(1) }
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
    }
}
