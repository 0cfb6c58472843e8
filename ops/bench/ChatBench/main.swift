import Foundation
import NIOCore
import NIOPosix
import Synchronization

// Fan-out benchmark: one publisher, N subscribers, increasing rates; the chat (WebSocket, every
// message appended to the log before delivery) or Redis pub/sub over the same loopback.
//   ChatBench chat  HOST:PORT ADMIN_TOKEN CHANNEL SUBSCRIBERS RATES SECONDS
//     (CHAT_DISK_PROBE=FILE: also time small synchronous writes to FILE while each rate runs)
//   ChatBench redis HOST:PORT SUBSCRIBERS RATES SECONDS

func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

/// Latencies (µs) and counts from every subscriber.
final class Tally: Sendable {
    let state = Mutex<(count: Int, latencies: [Int64], sent: [Int64])>((0, [], []))
    func record(_ sent: Int64) {
        let latency = nowMicros() - sent
        state.withLock {
            $0.count += 1; $0.latencies.append(latency); $0.sent.append(sent)
        }
    }
    func take() -> (Int, [Int64], [Int64]) {
        state.withLock { s in
            defer { s = (0, [], []) }; return (s.count, s.latencies, s.sent)
        }
    }
}

/// Finds `T<micros>E` markers in text; `state` carries a marker split across reads.
func markers(_ bytes: some Sequence<UInt8>, _ body: (Int64) -> Void) {
    var state: (inside: Bool, value: Int64) = (false, 0)
    markers(bytes, state: &state, body)
}

func markers(_ bytes: some Sequence<UInt8>, state: inout (inside: Bool, value: Int64), _ body: (Int64) -> Void) {
    var (inside, value) = state
    defer { state = (inside, value) }
    for byte in bytes {
        if byte == UInt8(ascii: "T") {
            inside = true; value = 0
        } else if inside, byte >= 48, byte <= 57 {
            value = value &* 10 &+ Int64(byte - 48)
        } else if inside, byte == UInt8(ascii: "E") {
            body(value); inside = false
        } else {
            inside = false
        }
    }
}

/// The value at fraction `p` of `sorted`, nil when it is empty.
func percentile<T>(_ sorted: [T], _ p: Double) -> T? {
    sorted.isEmpty ? nil : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
}

func report(_ label: String, rate: Int, seconds: Int, subscribers: Int, sent: Int, tally: Tally) {
    let (count, latencies, sentAt) = tally.take()
    func pct(_ sorted: [Int64], _ p: Double) -> Double { Double(percentile(sorted, p) ?? 0) / 1000 }
    let sorted = latencies.sorted()
    let expected = sent * subscribers
    print(
        String(
            format: "%-6@ %6d msg/s  sent %7d  delivered %9d / %9d (%5.1f%%)  %9.0f deliveries/s  p50 %7.1f ms  p99 %7.1f ms",
            label as NSString, rate, sent, count, expected, expected == 0 ? 0 : 100 * Double(count) / Double(expected),
            Double(count) / Double(seconds), pct(sorted, 0.5), pct(sorted, 0.99)))
    guard subscribers > 1 else { fflush(nil); return }
    // Per message, its first socket (the path to the room) and its last (plus the fan-out itself).
    var spans: [Int64: (first: Int64, last: Int64)] = [:]
    for (latency, sent) in zip(latencies, sentAt) {
        let span = spans[sent] ?? (latency, latency)
        spans[sent] = (min(span.first, latency), max(span.last, latency))
    }
    let first = spans.values.map(\.first).sorted()
    let last = spans.values.map(\.last).sorted()
    print(
        String(
            format: "       per message: first socket p50 %7.1f p99 %7.1f ms, last socket p50 %7.1f p99 %7.1f ms",
            pct(first, 0.5), pct(first, 0.99), pct(last, 0.5), pct(last, 0.99)))
    fflush(nil)
}

let args = CommandLine.arguments
guard args.count >= 2 else { print("usage: see ops/bench/chat"); exit(2) }

func pace(rate: Int, seconds: Int, _ send: (Int) async throws -> Void) async throws -> Int {
    let start = ContinuousClock.now
    let total = rate * seconds
    for index in 0..<total {
        let due = start + .microseconds(Int64(index) * 1_000_000 / Int64(rate))
        if due > ContinuousClock.now { try await Task.sleep(until: due) }
        try await send(index)
    }
    return total
}

/// A raw WebSocket client over NIO (the same per-byte cost as the Redis subscriber below, so the
/// clients do not decide the comparison): sends the upgrade, then reads unmasked server frames,
/// answers pings (the server's auto-ping closes a silent peer), and records markers in text frames.
final class WebSocketReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let tally: Tally?
    /// Record only acks (a sender's own posts becoming durable), not the room's messages.
    var acksOnly = false
    let upgraded: @Sendable () -> Void
    var buffer = ByteBuffer()
    var inHeaders = true
    var state: (inside: Bool, value: Int64) = (false, 0)
    init(tally: Tally?, upgraded: @escaping @Sendable () -> Void) { self.tally = tally; self.upgraded = upgraded }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        buffer.writeBuffer(&input)
        if inHeaders {
            guard let end = buffer.readableBytesView.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let head = buffer.readString(length: end.upperBound - buffer.readerIndex) ?? ""
            guard head.hasPrefix("HTTP/1.1 101") else { print("upgrade refused: \(head.prefix(200))"); context.close(promise: nil); return }
            inHeaders = false
            upgraded()
        }
        while buffer.readableBytes >= 2, let b0 = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let b1 = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
        {
            var header = 2
            var length = Int(b1 & 0x7F)
            if length == 126 {
                guard let value = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt16.self) else { return }
                length = Int(value); header = 4
            } else if length == 127 {
                guard let value = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt64.self) else { return }
                length = Int(value); header = 10
            }
            guard buffer.readableBytes >= header + length else { return }
            buffer.moveReaderIndex(forwardBy: header)
            guard let payload = buffer.readSlice(length: length) else { return }
            switch b0 & 0x0F {
            case 0x1, 0x0:
                guard let tally, !acksOnly || String(buffer: payload).hasSuffix(#""type":"ack"}"#) else { break }
                markers(payload.readableBytesView, state: &state) { tally.record($0) }
            case 0x9: context.writeAndFlush(wrapOutboundOut(maskedFrame(opcode: 0xA, payload: payload)), promise: nil)
            case 0x8: print("closed by the server: \(String(buffer: payload))"); context.close(promise: nil)
            default: break
            }
        }
        buffer.discardReadBytes()
    }
}

/// A client frame (masked, with a zero key: the payload bytes stay as they are).
func maskedFrame(opcode: UInt8, payload: ByteBuffer) -> ByteBuffer {
    var frame = ByteBuffer()
    frame.writeInteger(0x80 | opcode)
    if payload.readableBytes < 126 {
        frame.writeInteger(0x80 | UInt8(payload.readableBytes))
    } else {
        frame.writeInteger(UInt8(0xFE)); frame.writeInteger(UInt16(payload.readableBytes))
    }
    frame.writeInteger(UInt32(0))
    var payload = payload
    frame.writeBuffer(&payload)
    return frame
}

func connectWebSocket(
    _ host: String, _ port: Int, path: String, tally: Tally?, acksOnly: Bool = false, upgraded: @escaping @Sendable () -> Void
) async throws -> any Channel {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let reader = WebSocketReader(tally: tally, upgraded: upgraded)
                reader.acksOnly = acksOnly
                try channel.pipeline.syncOperations.addHandler(reader)
            }
        }
        .connect(host: host, port: port).get()
    let request =
        "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    try await channel.writeAndFlush(ByteBuffer(string: request)).get()
    return channel
}

if args[1] == "chat", args.count == 8 {
    let parts = args[2].split(separator: ":")
    let (host, port) = (String(parts[0]), Int(parts[1]) ?? 8080)
    let (token, channel) = (args[3], args[4])
    let subscribers = Int(args[5]) ?? 1000
    let rates = args[6].split(separator: ",").compactMap { Int($0) }
    let seconds = Int(args[7]) ?? 10
    let tally = Tally()
    let connected = Mutex(0)
    var readers: [any Channel] = []
    for _ in 0..<subscribers {
        readers.append(try await connectWebSocket(host, port, path: "/v1/chat/\(channel)", tally: tally) { connected.withLock { $0 += 1 } })
    }
    let deadline = ContinuousClock.now + .seconds(60)
    while connected.withLock({ $0 }) < subscribers, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
    print("\(connected.withLock { $0 }) of \(subscribers) sockets joined the room")
    // Many admin sockets publish in turn (the admin is not rate-limited), as many viewers would:
    // a socket's posts are handled one after another (each acknowledged once durable), so a few
    // sockets each posting dozens a second would measure their own queues, not the fan-out.
    let senders = 50
    var publishers: [any Channel] = []
    let ready = Mutex(0)
    let acks = Tally()
    // When each post left the client (its write completed), to tell the client's queueing from the server's.
    let sendLag = Tally()
    for _ in 0..<senders {
        publishers.append(
            try await connectWebSocket(host, port, path: "/v1/chat/\(channel)", tally: acks, acksOnly: true) {
                ready.withLock { $0 += 1 }
            })
    }
    while ready.withLock({ $0 }) < senders { try await Task.sleep(for: .milliseconds(100)) }
    // The admin token goes in an auth frame: the server refuses it in a URL.
    for publisher in publishers {
        try await publisher.writeAndFlush(maskedFrame(opcode: 0x1, payload: ByteBuffer(string: #"{"type":"auth","token":"\#(token)"}"#)))
            .get()
    }
    let senderChannels = publishers
    try await Task.sleep(for: .seconds(2))
    _ = tally.take()
    _ = acks.take()
    _ = sendLag.take()
    for rate in rates {
        let probe = ProcessInfo.processInfo.environment["CHAT_DISK_PROBE"].flatMap { $0.isEmpty ? nil : DiskProbe(path: $0) }
        let sent = try await pace(rate: rate, seconds: seconds) { index in
            let sentAt = nowMicros()
            let text = #"{"type":"send","text":"m\#(rate)-\#(index) T\#(sentAt)E","nonce":"T\#(sentAt)E"}"#
            let channel = senderChannels[index % senders]
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.whenSuccess { sendLag.record(sentAt) }
            channel.writeAndFlush(maskedFrame(opcode: 0x1, payload: ByteBuffer(string: text)), promise: promise)
        }
        let disk = await probe?.finish()
        try await Task.sleep(for: .seconds(3))
        report("chat", rate: rate, seconds: seconds, subscribers: subscribers, sent: sent, tally: tally)
        report(" acks", rate: rate, seconds: seconds, subscribers: 1, sent: sent, tally: acks)
        report(" write", rate: rate, seconds: seconds, subscribers: 1, sent: sent, tally: sendLag)
        if let disk { print(disk) }
    }
    exit(0)
} else if args[1] == "redis", args.count == 6 {
    let parts = args[2].split(separator: ":")
    let (host, port) = (String(parts[0]), Int(parts[1]) ?? 6379)
    let subscribers = Int(args[3]) ?? 1000
    let rates = args[4].split(separator: ",").compactMap { Int($0) }
    let seconds = Int(args[5]) ?? 10
    let tally = Tally()

    /// Lives on its channel's event loop only.
    final class Subscriber: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let tally: Tally
        var state: (inside: Bool, value: Int64) = (false, 0)
        init(tally: Tally) { self.tally = tally }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            markers(buffer.readableBytesView, state: &state) { tally.record($0) }
        }
    }
    let group = MultiThreadedEventLoopGroup.singleton
    var channels: [any Channel] = []
    for _ in 0..<subscribers {
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Subscriber(tally: tally)) }
            }
            .connect(host: host, port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: "SUBSCRIBE bench\r\n")).get()
        channels.append(channel)
    }
    let publisher = try await ClientBootstrap(group: group).channelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
        .connect(host: host, port: port).get()
    try await Task.sleep(for: .seconds(2))
    for rate in rates {
        let sent = try await pace(rate: rate, seconds: seconds) { index in
            publisher.writeAndFlush(ByteBuffer(string: "PUBLISH bench m\(index)-T\(nowMicros())E\r\n"), promise: nil)
        }
        try await Task.sleep(for: .seconds(3))
        report("redis", rate: rate, seconds: seconds, subscribers: subscribers, sent: sent, tally: tally)
    }
    exit(0)
} else {
    print("usage: see ops/bench/chat")
    exit(2)
}
