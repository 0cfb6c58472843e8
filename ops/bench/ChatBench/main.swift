import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import Synchronization

// Fan-out benchmark: one publisher, N subscribers, increasing rates; the chat (WebSocket, every
// message appended to the log before delivery) or Redis pub/sub over the same loopback.
//   ChatBench chat  HOST:PORT ADMIN_TOKEN CHANNEL SUBSCRIBERS RATES SECONDS
//   ChatBench redis HOST:PORT SUBSCRIBERS RATES SECONDS

func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }

/// Latencies (µs) and counts from every subscriber.
final class Tally: Sendable {
    let state = Mutex<(count: Int, latencies: [Int64])>((0, []))
    func record(_ sent: Int64) {
        let latency = nowMicros() - sent
        state.withLock { $0.count += 1; $0.latencies.append(latency) }
    }
    func take() -> (Int, [Int64]) { state.withLock { s in defer { s = (0, []) }; return (s.count, s.latencies) } }
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
        if byte == UInt8(ascii: "T") { inside = true; value = 0 }
        else if inside, byte >= 48, byte <= 57 { value = value &* 10 &+ Int64(byte - 48) }
        else if inside, byte == UInt8(ascii: "E") { body(value); inside = false }
        else { inside = false }
    }
}

func report(_ label: String, rate: Int, seconds: Int, subscribers: Int, sent: Int, tally: Tally) {
    let (count, latencies) = tally.take()
    let sorted = latencies.sorted()
    func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000 }
    let expected = sent * subscribers
    print(String(format: "%-6@ %6d msg/s  sent %7d  delivered %9d / %9d (%5.1f%%)  %9.0f deliveries/s  p50 %7.1f ms  p99 %7.1f ms",
                 label as NSString, rate, sent, count, expected, expected == 0 ? 0 : 100 * Double(count) / Double(expected),
                 Double(count) / Double(seconds), pct(0.5), pct(0.99)))
    fflush(nil)
}

var logger = Logger(label: "bench")
logger.logLevel = .critical
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

if args[1] == "chat", args.count == 8 {
    let (host, token, channel) = (args[2], args[3], args[4])
    let subscribers = Int(args[5]) ?? 1000
    let rates = args[6].split(separator: ",").compactMap { Int($0) }
    let seconds = Int(args[7]) ?? 10
    let tally = Tally()
    let connected = Mutex(0)
    for _ in 0..<subscribers {
        Task {
            _ = try? await WebSocketClient.connect(url: "ws://\(host)/v1/chat/\(channel)", configuration: .init(maxFrameSize: 1 << 20), logger: logger) { inbound, _, _ in
                connected.withLock { $0 += 1 }
                for try await frame in inbound {
                    if frame.opcode == .text || frame.opcode == .continuation {
                        markers(frame.data.readableBytesView) { tally.record($0) }
                    }
                }
            }
        }
        try await Task.sleep(for: .milliseconds(2))
    }
    while connected.withLock({ $0 }) < subscribers { try await Task.sleep(for: .milliseconds(100)) }
    try await Task.sleep(for: .seconds(2))
    _ = tally.take()
    // Several admin sockets publish in turn (admin is not rate-limited), so one socket's
    // round trip to the log does not cap the rate.
    let senders = 8
    var continuations: [AsyncStream<String>.Continuation] = []
    for _ in 0..<senders {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        continuations.append(continuation)
        Task {
            _ = try? await WebSocketClient.connect(url: "ws://\(host)/v1/chat/\(channel)?token=\(token)", logger: logger) { inbound, outbound, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { for try await _ in inbound {} }
                    try await outbound.write(.text(#"{"type":"auth","token":"\#(token)"}"#))
                    for await text in stream { try await outbound.write(.text(text)) }
                    group.cancelAll()
                }
            }
        }
    }
    try await Task.sleep(for: .seconds(1))
    for rate in rates {
        let sent = try await pace(rate: rate, seconds: seconds) { index in
            continuations[index % senders].yield(#"{"type":"send","text":"m\#(rate)-\#(index) T\#(nowMicros())E","nonce":"\#(index)"}"#)
        }
        try await Task.sleep(for: .seconds(3))
        report("chat", rate: rate, seconds: seconds, subscribers: subscribers, sent: sent, tally: tally)
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
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Subscriber(tally: tally)) } }
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
