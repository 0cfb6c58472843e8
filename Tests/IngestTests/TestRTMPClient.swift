import NIOCore
import NIOPosix
import Synchronization

@testable import Ingest

/// A hand-driven RTMP publisher for cases ffmpeg cannot produce (silence, floods, limits).
final class TestRTMPClient: Sendable {
    final class Inbound: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<[UInt8]>([])

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0 += buffer.readableBytesView }
        }
    }

    let channel: any Channel
    let inbound: Inbound
    private let encoder = Mutex(RTMPChunkEncoder())

    private init(channel: any Channel, inbound: Inbound) {
        self.channel = channel
        self.inbound = inbound
    }

    static func connect(port: Int) async throws -> TestRTMPClient {
        let inbound = Inbound()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(inbound) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TestRTMPClient(channel: channel, inbound: inbound)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes))
    }

    func send(_ message: RTMPMessage) async throws {
        try await send(encoder.withLock { $0.encode(message) })
    }

    func command(_ values: [AMF0Value], stream: UInt32 = 0) async throws {
        try await send(RTMPMessage(typeID: 20, messageStreamID: stream, chunkStreamID: 3, payload: AMF0Encoder.encode(values)))
    }

    /// Plain handshake: C0+C1, wait for S0+S1+S2, send C2.
    func handshake() async throws {
        try await send([3] + [UInt8](repeating: 0, count: 1536))
        guard await waitFor({ $0.count >= 3073 }) else { throw RTMPProtocolError(.handshake, "no S0+S1+S2") }
        let s1 = inbound.bytes.withLock { Array($0[1..<1537]) }
        try await send(s1)
    }

    /// connect, createStream, publish KEY.
    func publish(key: String) async throws {
        try await handshake()
        try await command([.string("connect"), .number(1), .object(["app": .string("live")])])
        try await command([.string("createStream"), .number(2), .null])
        try await command([.string("publish"), .number(3), .null, .string(key), .string("live")], stream: 1)
    }

    /// Messages the server sent after the handshake.
    var messages: [RTMPMessage] {
        let bytes = inbound.bytes.withLock { $0 }
        guard bytes.count > 3073 else { return [] }
        var decoder = RTMPChunkDecoder()
        decoder.append(Array(bytes[3073...]))
        var messages: [RTMPMessage] = []
        while let message = try? decoder.nextMessage() { messages.append(message) }
        return messages
    }

    /// Descriptions of the `_error` and `onStatus` commands received.
    var statusCodes: [(code: String, description: String)] {
        messages.compactMap { message in
            guard message.typeID == 20, let values = try? AMF0Decoder.decodeAll(message.payload), values.count > 3,
                let info = values[3].object, let code = info["code"]?.string
            else { return nil }
            return (code, info["description"]?.string ?? "")
        }
    }

    func waitFor(timeout: Duration = .seconds(5), _ predicate: @Sendable ([UInt8]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if inbound.bytes.withLock({ predicate($0) }) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    func waitForStatus(_ code: String, timeout: Duration = .seconds(5)) async -> String? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if let match = statusCodes.first(where: { $0.code == code }) { return match.description }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// Whether the server closed the connection within the timeout (polled: awaiting `closeFuture`
    /// cannot be cancelled, so a timeout around it would wait for the close anyway).
    func waitForClose(timeout: Duration) async -> Bool {
        let closed = ClosedFlag()
        channel.closeFuture.whenComplete { _ in closed.value.store(true, ordering: .releasing) }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if closed.value.load(ordering: .acquiring) { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return closed.value.load(ordering: .acquiring)
    }

    private final class ClosedFlag: Sendable {
        let value = Atomic(false)
    }

    func close() async {
        try? await channel.close()
    }
}

/// Forwards TCP between an encoder and the server, recording what the encoder sent.
final class RecordingProxy: Sendable {
    final class Forward: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let partner: any Channel
        let record: ByteRecorder?

        init(partner: any Channel, record: ByteRecorder?) {
            self.partner = partner
            self.record = record
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            record?.bytes.withLock { $0 += buffer.readableBytesView }
            partner.writeAndFlush(buffer, promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            partner.close(promise: nil)
        }
    }

    let recorded = ByteRecorder()
    private let listener = Mutex<(any Channel)?>(nil)

    func start(forwardingTo port: Int) async throws -> Int {
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { [self] inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: port)
                    .flatMap { outbound in
                        outbound.pipeline.addHandler(Forward(partner: inbound, record: nil)).flatMap {
                            inbound.pipeline.addHandler(Forward(partner: outbound, record: self.recorded))
                        }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        listener.withLock { $0 = channel }
        return channel.localAddress?.port ?? 0
    }

    func stop() async {
        try? await listener.withLock { $0 }?.close()
    }
}

final class ByteRecorder: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
