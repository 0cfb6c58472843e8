// The RTMP ingest alone, for `ops/bench/ingest.sh`: accepts any key (`live/KEY` → channel KEY),
// drains every session's media like a fast consumer, counts events, and on SIGTERM/SIGINT prints
// what it received. Usage: IngestBench [port]
import Dispatch
import EventStore
import Foundation
import Ingest
import Media
import NIOCore
import NIOPosix
import Synchronization

struct AcceptAll: PublishAuthorizer {
    func authorize(app: String, streamKey: String, remote: String) async -> PublishAuthorization {
        .accepted(channelID: streamKey, channelName: streamKey)
    }
}

final class Totals: Sendable {
    let sessions = Atomic<Int>(0)
    let packets = Atomic<Int>(0)
    let payloadBytes = Atomic<Int>(0)
    let events = Atomic<Int>(0)
}

/// `IngestBench --parse FILE.flv`: the parsing path alone (chunk decoder, session, FLV), no sockets.
func parseOnly(_ path: String) throws {
    let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
    var encoder = RTMPChunkEncoder()
    var stream = encoder.encode(.setChunkSize(4096))
    func command(_ values: [AMF0Value], _ streamID: UInt32 = 0) -> RTMPMessage {
        RTMPMessage(typeID: 20, messageStreamID: streamID, chunkStreamID: 3, payload: AMF0Encoder.encode(values))
    }
    stream += encoder.encode(command([.string("connect"), .number(1), .object(["app": .string("live")])]))
    stream += encoder.encode(command([.string("createStream"), .number(2), .null]))
    stream += encoder.encode(command([.string("publish"), .number(3), .null, .string("k"), .string("live")], 1))
    var offset = 13
    while offset + 11 <= bytes.count {
        let type = bytes[offset]
        let size = Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
        let timestamp =
            UInt32(bytes[offset + 7]) << 24 | UInt32(bytes[offset + 4]) << 16 | UInt32(bytes[offset + 5]) << 8 | UInt32(bytes[offset + 6])
        guard offset + 11 + size <= bytes.count else { break }
        let body = Array(bytes[(offset + 11)..<(offset + 11 + size)])
        if type == 8 || type == 9 {
            stream += encoder.encode(
                RTMPMessage(typeID: type, timestamp: timestamp, messageStreamID: 1, chunkStreamID: type == 9 ? 6 : 4, payload: body))
        }
        offset += 11 + size + 4
    }
    let rounds = 20
    var packets = 0
    let clock = ContinuousClock()
    let elapsed = clock.measure {
        for _ in 0..<rounds {
            var decoder = RTMPChunkDecoder()
            var session = RTMPSession()
            var position = 0
            while position < stream.count {
                let end = min(position + 16384, stream.count)
                decoder.append(ByteBuffer(bytes: stream[position..<end]))
                position = end
                while let message = try? decoder.nextMessage() {
                    for action in session.receive(message) {
                        switch action {
                        case .authorize: _ = session.publishAccepted()
                        case .media(.packet): packets += 1
                        default: break
                        }
                    }
                }
            }
        }
    }
    let seconds = elapsed.inSeconds
    let gigabytes = Double(stream.count * rounds) / 1e9
    print(String(format: "parse only: %.3f GB in %.2f s = %.2f cpu-s/GB (%d packets)", gigabytes, seconds, seconds / gigabytes, packets))
}

if CommandLine.arguments.count > 2, CommandLine.arguments[1] == "--parse" {
    try parseOnly(CommandLine.arguments[2])
    exit(0)
}

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1935
let totals = Totals()
var configuration = IngestConfiguration()
configuration.sessions.graceWindow = .seconds(1)
let environment = ProcessInfo.processInfo.environment
if let milliseconds = environment["INGEST_BATCH_MS"].flatMap(Int.init) {
    configuration.mediaBatchInterval = .milliseconds(milliseconds)
}
// INGEST_THREADS: event loop threads (default: the server's own, RTMPServer.defaultGroup).
let group: any EventLoopGroup =
    environment["INGEST_THREADS"].flatMap(Int.init).map {
        MultiThreadedEventLoopGroup(numberOfThreads: $0)
    } ?? RTMPServer.defaultGroup
let server = RTMPServer(
    configuration: configuration, authorizer: AcceptAll(),
    eventSink: { _, _, _ in
        totals.events.add(1, ordering: .relaxed)
    }, group: group)
let bound = try await server.start(host: "127.0.0.1", port: port)
print("IngestBench listening on \(bound)")
fflush(nil)

let drain = Task {
    await withDiscardingTaskGroup { group in
        for await session in server.sessions {
            totals.sessions.add(1, ordering: .relaxed)
            // INGEST_DISCARD=1: the consumer leaves after one item, so later items are dropped at
            // the source; this measures the hand-off's share of the cost.
            if environment["INGEST_DISCARD"] == "1" {
                group.addTask {
                    var iterator = session.media.makeAsyncIterator()
                    _ = await iterator.next()
                }
                continue
            }
            // Like the product's consumer (LivePipeline), on the connection's loop unless INGEST_HOP=1.
            let executor = environment["INGEST_HOP"] == "1" ? nil : session.mediaExecutor
            group.addTask(executorPreference: executor) {
                for await item in session.media {
                    if case .packet(let packet) = item {
                        totals.packets.add(1, ordering: .relaxed)
                        totals.payloadBytes.add(packet.data.count, ordering: .relaxed)
                    }
                }
            }
        }
    }
}

/// SIGTERM/SIGINT as a stream; nonisolated so the handlers do not assert the main queue.
func stopSignals() -> (AsyncStream<Void>, [any DispatchSourceSignal]) {
    let (stop, continuation) = AsyncStream.makeStream(of: Void.self)
    let sources = [SIGTERM, SIGINT].map { value in
        signal(value, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: value, queue: .global())
        source.setEventHandler { continuation.yield() }
        source.resume()
        return source
    }
    return (stop, sources)
}

let (stop, signalSources) = stopSignals()
for await _ in stop { break }
_ = signalSources
await server.shutdown()
drain.cancel()
print(
    "sessions=\(totals.sessions.load(ordering: .relaxed)) packets=\(totals.packets.load(ordering: .relaxed)) payload_bytes=\(totals.payloadBytes.load(ordering: .relaxed)) events=\(totals.events.load(ordering: .relaxed))"
)
