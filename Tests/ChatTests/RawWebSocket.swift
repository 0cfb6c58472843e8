import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TestSupport

/// A WebSocket client at the byte level, for a reader that stops reading: its receive buffer is
/// tiny and, once it stops, nothing is read from the kernel until `resume()`.
final class RawWebSocket: Sendable {
    struct Frame: Sendable {
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
    }

    final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<[UInt8]>([])
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
        }
    }

    let channel: any Channel
    private let collector: Collector

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(_ host: String, path: String, receiveBuffer: Int) async throws -> RawWebSocket {
        let parts = host.split(separator: ":")
        guard parts.count == 2, let port = Int(parts[1]) else { throw TestSupportError("host:port expected, got \(host)") }
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBuffer))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: String(parts[0]), port: port).get()
        let request =
            "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request)).get()
        return RawWebSocket(channel: channel, collector: collector)
    }

    func pause() async throws { try await channel.setOption(ChannelOptions.autoRead, value: false).get() }
    func resume() async throws { try await channel.setOption(ChannelOptions.autoRead, value: true).get() }
    var isClosed: Bool { !channel.isActive }

    /// The server's frames so far (unmasked, after the HTTP response); nil before the upgrade.
    var frames: [Frame]? {
        let bytes = collector.bytes.withLock { $0 }
        let marker = Array("\r\n\r\n".utf8)
        guard let end = bytes.firstRange(of: marker)?.upperBound,
            String(decoding: bytes[..<end], as: UTF8.self).hasPrefix("HTTP/1.1 101")
        else { return nil }
        return WebSocketFrames.parse(bytes, from: end).frames.map { Frame(opcode: $0.opcode, payload: $0.payload) }
    }

    func close() { channel.close(promise: nil) }
}
