// The SRT ingest alone, for `ops/bench/srt`: accepts any key (`live/KEY` → channel KEY), demuxes
// every publish's MPEG-TS and drains its media like a fast consumer, counts events, and on
// SIGTERM/SIGINT prints what it received. Usage: SRTBench [port] [latency ms]
import Dispatch
import EventStore
import Foundation
import Ingest
import Media
import Synchronization

struct AcceptAll: PublishAuthorizer, ImmediatePublishAuthorizer {
    func authorize(app: String, streamKey: String, remote: String) async -> PublishAuthorization {
        authorizeNow(app: app, streamKey: streamKey, remote: remote)
    }

    func authorizeNow(app: String, streamKey: String, remote: String) -> PublishAuthorization {
        .accepted(channelID: streamKey, channelName: streamKey)
    }
}

final class Totals: Sendable {
    let sessions = Atomic<Int>(0)
    let packets = Atomic<Int>(0)
    let payloadBytes = Atomic<Int>(0)
    let events = Atomic<Int>(0)
    let lost = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
}

let arguments = CommandLine.arguments.dropFirst()
let port = arguments.first.flatMap(Int.init) ?? 9000
let latency = arguments.dropFirst().first.flatMap(Int.init) ?? 120
let totals = Totals()
var configuration = IngestConfiguration()
configuration.sessions.graceWindow = .seconds(1)
let rtmp = RTMPServer(
    configuration: configuration, authorizer: AcceptAll(),
    eventSink: { _, event, _ in
        totals.events.add(1, ordering: .relaxed)
        // A window of intervals (schema 1: one interval, its `stats`).
        if let sample = event as? IngestStatsSampled {
            if let window = sample.window {
                totals.lost.add(window.srtPacketsLost ?? 0, ordering: .relaxed)
                totals.dropped.add(window.srtPacketsDropped ?? 0, ordering: .relaxed)
            } else if let link = sample.stats.srt {
                totals.lost.add(link.packetsLost, ordering: .relaxed)
                totals.dropped.add(link.packetsDropped, ordering: .relaxed)
            }
        }
    })
let srt = SRTServer(configuration: SRTConfiguration(latencyMilliseconds: latency), sharingSessionsWith: rtmp)
let bound = try srt.start(host: "127.0.0.1", port: port)
print("SRTBench listening on \(bound)")
fflush(nil)

let drain = Task {
    await withDiscardingTaskGroup { group in
        for await session in srt.sessions {
            totals.sessions.add(1, ordering: .relaxed)
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
await srt.shutdown()
await rtmp.shutdown()
drain.cancel()
let timings = srt.authorizationTimings
print(
    "sessions=\(totals.sessions.load(ordering: .relaxed)) packets=\(totals.packets.load(ordering: .relaxed)) "
        + "payload_bytes=\(totals.payloadBytes.load(ordering: .relaxed)) events=\(totals.events.load(ordering: .relaxed)) "
        + "srt_lost=\(totals.lost.load(ordering: .relaxed)) srt_dropped=\(totals.dropped.load(ordering: .relaxed)) "
        + String(format: "listen_callback_mean_ms=%.3f listen_callback_max_ms=%.3f", timings.meanMilliseconds, timings.maxMilliseconds))
