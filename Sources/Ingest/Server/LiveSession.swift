import EventStore
import Foundation
import Media
import NIOCore
import Synchronization

/// One live publish of a channel. It outlives a connection: an encoder that reconnects within the
/// grace window continues it (same id; `media` continues after a `.discontinuity`).
public final class LiveSession: Sendable {
    public let id: UUID
    public let channelID: String
    public let channelName: String
    public let startedAt: Date
    public let `protocol`: String
    /// The session's media; iterate it exactly once.
    public let media: LiveMediaSequence

    struct Mutable: Sendable {
        var remoteAddress: String
        var tracks: [TrackInfo] = []
        var stats = IngestStats()
        var window = IngestStatsWindow()
        /// The session's last window went out (it ended): later intervals stay out of the log.
        var windowsClosed = false
        var bytesReceived: UInt64 = 0
        var reconnects = 0
        var description: StreamDescription?
        var executor: (any TaskExecutor)?
    }

    let source: LiveMediaSequence.Producer.Source
    let demand: MediaDemand
    private let state: Mutex<Mutable>
    private let registry: SessionRegistry
    private let announced = Atomic<Bool>(false)
    private let ended = Atomic<Bool>(false)

    init(
        channelID: String, channelName: String, remoteAddress: String, protocol: String,
        lowWatermark: Int, highWatermark: Int, executor: (any TaskExecutor)? = nil, registry: SessionRegistry
    ) {
        id = UUID()
        self.channelID = channelID
        self.channelName = channelName
        self.protocol = `protocol`
        startedAt = Date()
        self.registry = registry
        demand = MediaDemand()
        let produced = LiveMediaSequence.Producer.makeSequence(
            backPressureStrategy: .init(lowWatermark: lowWatermark, highWatermark: highWatermark),
            finishOnDeinit: true, delegate: demand)
        source = produced.source
        media = LiveMediaSequence(producer: produced.sequence, depth: QueueDepth())
        state = Mutex(Mutable(remoteAddress: remoteAddress, executor: executor))
    }

    /// The node it is live on, in a cluster.
    var nodeID: String? { registry.configuration.nodeID }

    /// The event stream id of this session's facts.
    public var streamID: String { "session-\(id.uuidString.lowercased())" }
    public var remoteAddress: String { state.withLock { $0.remoteAddress } }
    public var tracks: [TrackInfo] { state.withLock { $0.tracks } }
    /// The last sampled statistics.
    public var stats: IngestStats { state.withLock { $0.stats } }
    public var bytesReceived: UInt64 { state.withLock { $0.bytesReceived } }
    public var reconnects: Int { state.withLock { $0.reconnects } }
    public var queueDepth: Int { media.depth.value }
    /// Where the connection feeding the session hands media over (an RTMP connection's event loop).
    /// Iterating `media` inside `withTaskExecutorPreference(mediaExecutor)` resumes the consumer
    /// there without waking another thread; nil when the producer has a thread of its own.
    public var mediaExecutor: (any TaskExecutor)? { state.withLock { $0.executor } }

    /// Ends the session now (`StreamEnded(kicked)`): the encoder is disconnected and told why.
    public func kick(reason: String? = nil, by actor: EventActor = .admin) async {
        _ = await registry.kick(sessionID: id, by: actor, reason: reason)
    }

    /// Passes items on, in order; `.stopProducing` means stop reading the socket until demand returns.
    func yield(contentsOf items: [MediaItem]) -> LiveMediaSequence.Producer.Source.YieldResult {
        for item in items {
            guard case .track(let track) = item else { continue }
            state.withLock { state in
                state.tracks.removeAll { $0.kind == track.kind }
                state.tracks.append(track)
            }
        }
        media.depth.counter.add(items.count, ordering: .relaxed)
        let result = source.yield(contentsOf: items)
        if result == .dropped { media.depth.counter.subtract(items.count, ordering: .relaxed) }
        return result
    }

    func yield(_ item: MediaItem) -> LiveMediaSequence.Producer.Source.YieldResult {
        yield(contentsOf: [item])
    }

    func update(stats: IngestStats, newBytes: UInt64) {
        state.withLock {
            $0.stats = stats
            $0.bytesReceived &+= newBytes
        }
    }

    /// Adds an announced interval to the session's statistics window; when that closes the window,
    /// emits it as `IngestStatsSampled`. Emitted under the session's lock, so windows and the
    /// final flush (`flushStats`) reach the emitter in order.
    func summarise(_ stats: IngestStats, emitter: IngestEventEmitter, actor: EventActor) {
        state.withLock { state in
            guard !state.windowsClosed, let closed = state.window.add(stats) else { return }
            emitter.emit(self.sampled(closed), stream: streamID, actor: actor)
        }
    }

    /// Emits the window in progress now (its connection ended); `final` keeps later ones out (the
    /// session ended: nothing of it may follow its `StreamEnded`).
    func flushStats(emitter: IngestEventEmitter, actor: EventActor, final: Bool) {
        state.withLock { state in
            if let closed = state.window.flush(), !state.windowsClosed {
                emitter.emit(self.sampled(closed), stream: streamID, actor: actor)
            }
            if final { state.windowsClosed = true }
        }
    }

    private func sampled(_ closed: IngestStatsWindow.Closed) -> IngestStatsSampled {
        IngestStatsSampled(
            sessionID: id.uuidString.lowercased(), channelID: channelID, stats: closed.last, window: closed.summary)
    }

    func reconnected(from remoteAddress: String, executor: (any TaskExecutor)?) {
        state.withLock {
            $0.window.reconnected()
            $0.remoteAddress = remoteAddress
            $0.reconnects += 1
            $0.executor = executor
        }
    }

    var streamDescription: StreamDescription? {
        get { state.withLock { $0.description } }
        set { state.withLock { $0.description = newValue } }
    }

    /// True for exactly one caller: whoever emits `StreamStarted`.
    func claimAnnouncement() -> Bool {
        announced.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }

    var isEnded: Bool { ended.load(ordering: .relaxed) }

    /// Whether `StreamStarted` has gone out; nothing else about the session may precede it.
    var isAnnounced: Bool { announced.load(ordering: .relaxed) }

    func finishMedia() {
        ended.store(true, ordering: .relaxed)
        source.finish()
        demand.setResume(nil)
    }
}

/// A row of `GET /v1/streams`.
public struct LiveSessionSummary: Sendable, Hashable, Codable {
    public var id: UUID
    public var channelID: String
    public var channelName: String
    public var `protocol`: String
    public var remoteAddress: String
    public var startedAt: Date
    /// False while the encoder is away and the session waits in its grace window.
    public var connected: Bool
    public var reconnects: Int
    public var bytesReceived: UInt64
    public var stats: IngestStats
    /// The quality machine's health score, 0–100, once the quality projection has seen the session.
    public var health: Int? = nil
    /// The quality machine's state: HIGH, MEDIUM, LOW, VERY_LOW, ERROR or RECOVERY.
    public var quality: String? = nil
}
