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

let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1935
let totals = Totals()
var configuration = IngestConfiguration()
configuration.sessions.graceWindow = .seconds(1)
let environment = ProcessInfo.processInfo.environment
if let milliseconds = environment["INGEST_BATCH_MS"].flatMap(Int.init) {
    configuration.mediaBatchInterval = .milliseconds(milliseconds)
}
// INGEST_THREADS: event loop threads (default: NIO's singleton group, one per core).
let group: any EventLoopGroup = environment["INGEST_THREADS"].flatMap(Int.init).map {
    MultiThreadedEventLoopGroup(numberOfThreads: $0)
} ?? MultiThreadedEventLoopGroup.singleton
let server = RTMPServer(configuration: configuration, authorizer: AcceptAll(), eventSink: { _, _, _ in
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
            group.addTask {
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
print("sessions=\(totals.sessions.load(ordering: .relaxed)) packets=\(totals.packets.load(ordering: .relaxed)) payload_bytes=\(totals.payloadBytes.load(ordering: .relaxed)) events=\(totals.events.load(ordering: .relaxed))")
