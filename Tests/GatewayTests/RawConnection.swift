import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TestSupport

/// A TCP connection at the byte level: requests go out exactly as written (no client normalises
/// a path), from a chosen loopback source address if asked (each address has its own rate limits
/// and admin-token lockout), and the answer is whatever bytes came back.
final class RawConnection: Sendable {
    struct Answer: Sendable {
        var bytes: [UInt8]
        var text: String { String(decoding: bytes, as: UTF8.self) }
        /// The status of the first response, 0 when none came.
        var status: Int {
            let line = text.prefix { $0 != "\r" }
            let parts = line.split(separator: " ")
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/") else { return 0 }
            return Int(parts[1]) ?? 0
        }
        var hasHead: Bool { bytes.firstRange(of: Array("\r\n\r\n".utf8)) != nil }
        func contains(_ text: String) -> Bool { bytes.firstRange(of: Array(text.utf8)) != nil }
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<[UInt8]>([])
        let closed = Mutex(false)
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            closed.withLock { $0 = true }
            context.fireChannelInactive()
        }
    }

    let channel: any Channel
    private let collector: Collector

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func open(port: Int, from source: String? = nil) async throws -> RawConnection {
        let collector = Collector()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel = try await bootstrap.connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collector: collector)
    }

    func send(_ bytes: [UInt8]) async throws { try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get() }
    func send(_ text: String) async throws { try await send(Array(text.utf8)) }

    var answer: Answer { Answer(bytes: collector.bytes.withLock { $0 }) }
    var isClosed: Bool { collector.closed.withLock { $0 } }

    /// What came back once `done` holds or the server closed, or when `timeout` passed.
    func wait(timeout: Duration = .seconds(15), until done: (Answer) -> Bool = { _ in false }) async throws -> Answer {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !isClosed, !done(answer) { try await Task.sleep(for: .milliseconds(5)) }
        return answer
    }

    func close() async { try? await channel.close().get() }

    /// One request on a fresh connection: the bytes answered up to the end of the first
    /// response's head when `headOnly` (for streams that never end), else until the server closes
    /// (send `Connection: close`).
    static func exchange(port: Int, _ request: String, from source: String? = nil, headOnly: Bool = false) async throws -> Answer {
        let connection = try await open(port: port, from: source)
        try await connection.send(request)
        let answer = try await connection.wait { headOnly && $0.hasHead }
        await connection.close()
        return answer
    }

    /// A client's WebSocket text frame (masked, as a client must; the all-zero key leaves the
    /// payload as it is).
    static func textFrame(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        if payload.count < 126 {
            frame.append(0x80 | UInt8(payload.count))
        } else {
            frame += [0x80 | 126, UInt8(payload.count >> 8 & 0xFF), UInt8(payload.count & 0xFF)]
        }
        return frame + [0, 0, 0, 0] + payload
    }
}
