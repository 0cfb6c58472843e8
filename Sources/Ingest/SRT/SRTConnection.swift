import CSRT
import EventStore
import Logging
import Media

/// One accepted SRT caller: its TS demuxer, the live session it feeds, its batch of media not yet
/// handed over, and its statistics. It owns its socket (closed by the loop when the connection
/// ends, else by `SRTSocket.deinit`). Owned and used only by the `SRTReceiveLoop` thread.
final class SRTConnection {
    let socket: SRTSocket
    let token: UInt64
    let verdict: SRTServer.Verdict
    var logger: Logger
    var live: LiveSession?
    var extractor = TSMediaExtractor()
    var pendingMedia: [MediaItem] = []
    /// The consumer is behind: the socket is out of the epoll set until it catches up.
    var paused = false
    var stats = IngestStatsAccumulator()
    var bytesReceived: UInt64 = 0
    var bytesAtLastSample: UInt64 = 0
    var continuityErrorsAtLastSample = 0
    var droppedAtLastSample = 0
    var lastSample = ContinuousClock.now
    var lastMedia = ContinuousClock.now
    var lastFlush = ContinuousClock.now
    var latencyMilliseconds = 0

    init(socket: SRTSocket, token: UInt64, verdict: SRTServer.Verdict, logger: Logger) {
        self.socket = socket
        self.token = token
        self.verdict = verdict
        self.logger = logger
        self.logger[metadataKey: "remote"] = "\(verdict.remoteAddress)"
    }

    /// What the loop must do after bytes arrived.
    enum Outcome {
        case continueReading
        case end(StreamEnded.Reason, String)
    }

    /// Demuxes bytes read from the socket into the session's pending media.
    func received(_ bytes: UnsafeRawBufferPointer, server: SRTServer) -> Outcome {
        bytesReceived &+= UInt64(bytes.count)
        let output: TSMediaExtractor.Output
        do {
            output = try extractor.push(bytes.bindMemory(to: UInt8.self))
        } catch {
            return .end(.protocolError, "malformed MPEG-TS: \(error.detail)")
        }
        for item in output.items { deliver(item) }
        if let description = output.ready, let live {
            live.streamDescription = description
            if live.claimAnnouncement() {
                server.emitter.emit(
                    SessionRegistry.started(live), stream: live.streamID, actor: EventActor(.encoder, id: verdict.remoteAddress))
            }
        }
        return .continueReading
    }

    private func deliver(_ item: MediaItem) {
        if case .packet(let packet) = item {
            stats.record(packet)
            lastMedia = .now
        }
        pendingMedia.append(item)
    }

    /// Hands the pending batch to the session; returns false when the consumer asked to stop.
    func flushMedia() -> Bool {
        lastFlush = .now
        guard let live, !pendingMedia.isEmpty else { return true }
        let items = pendingMedia
        pendingMedia.removeAll(keepingCapacity: true)
        switch live.yield(contentsOf: items, from: verdict.role) {
        case .produceMore:
            return true
        case .stopProducing:
            return false
        case .dropped:
            for case .packet in items { stats.recordDropped() }
            return true
        }
    }

    /// Samples libsrt's and our own counters into the session and, once announced, the log.
    func sampleStats(server: SRTServer) {
        guard let live, !live.isEnded else { return }
        let now = ContinuousClock.now
        let interval = lastSample.duration(to: now)
        lastSample = now
        let perf = try? socket.statistics(clear: true)
        let dropped = extractor.counters.droppedFrames
        for _ in 0..<max(0, dropped - droppedAtLastSample) { stats.recordDropped() }
        droppedAtLastSample = dropped
        var sample = stats.sample(totalBytes: bytesReceived, interval: interval, queueDepth: live.queueDepth, backpressured: paused)
        let continuityErrors = extractor.demuxer.counters.continuityErrors
        if let perf {
            sample.srt = SRTLinkStatistics(
                perf, latencyMilliseconds: latencyMilliseconds, continuityErrors: continuityErrors - continuityErrorsAtLastSample)
        }
        continuityErrorsAtLastSample = continuityErrors
        live.update(stats: sample, newBytes: bytesReceived &- bytesAtLastSample, from: verdict.role)
        IngestMetrics.sampled(sample, newBytes: bytesReceived &- bytesAtLastSample, protocol: "srt")
        bytesAtLastSample = bytesReceived
        guard live.isAnnounced else { return }
        live.summarise(sample, emitter: server.emitter, actor: EventActor(.encoder, id: verdict.remoteAddress), from: verdict.role)
    }
}
