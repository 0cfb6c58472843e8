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
        var selector: InputSelector
        var slate: SlateRun?
        /// Checks the playing input for a stall while a second input is connected.
        var watch: Task<Void, Never>?
    }

    /// The slate playing while every input is gone.
    struct SlateRun: Sendable {
        var task: Task<Void, Never>?
        var startedAt: ContinuousClock.Instant
        var announced: Bool
    }

    let source: LiveMediaSequence.Producer.Source
    let demand: MediaDemand
    private let state: Mutex<Mutable>
    private let registry: SessionRegistry
    private let emitter: IngestEventEmitter?
    private let announced = Atomic<Bool>(false)
    private let ended = Atomic<Bool>(false)

    init(
        channelID: String, channelName: String, remoteAddress: String, protocol: String,
        lowWatermark: Int, highWatermark: Int, executor: (any TaskExecutor)? = nil, inputs: InputSelector.Options = .init(),
        registry: SessionRegistry, emitter: IngestEventEmitter? = nil
    ) {
        id = UUID()
        self.channelID = channelID
        self.channelName = channelName
        self.protocol = `protocol`
        startedAt = Date()
        self.registry = registry
        self.emitter = emitter
        demand = MediaDemand()
        let produced = LiveMediaSequence.Producer.makeSequence(
            backPressureStrategy: .init(lowWatermark: lowWatermark, highWatermark: highWatermark),
            finishOnDeinit: true, delegate: demand)
        source = produced.source
        media = LiveMediaSequence(producer: produced.sequence, depth: QueueDepth())
        state = Mutex(Mutable(remoteAddress: remoteAddress, executor: executor, selector: InputSelector(options: inputs)))
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

    /// Items from the input `role`. Only the playing input's reach the media (its backpressure
    /// applies: `.stopProducing` means stop reading the socket until demand returns); the others
    /// are buffered from their latest keyframe so a switch need not wait for the next one.
    func yield(contentsOf items: [MediaItem], from role: IngestInputRole = .primary) -> LiveMediaSequence.Producer.Source.YieldResult {
        let now = ContinuousClock.now
        return state.withLock { state in
            for item in items {
                guard case .track(let track) = item else { continue }
                state.tracks.removeAll { $0.kind == track.kind }
                state.tracks.append(track)
            }
            let output = state.selector.receive(items, from: role, now: now)
            let result = forward(output, state: &state, now: now)
            return output.fromCaller ? result : .produceMore
        }
    }

    /// Passes the selector's items to the media and records its switch, under the session's lock so
    /// that items and events keep their order.
    private func forward(
        _ output: InputSelector.Output, state: inout Mutable, now: ContinuousClock.Instant
    ) -> LiveMediaSequence.Producer.Source.YieldResult {
        var result = LiveMediaSequence.Producer.Source.YieldResult.produceMore
        if !output.items.isEmpty {
            media.depth.counter.add(output.items.count, ordering: .relaxed)
            result = source.yield(contentsOf: output.items)
            if result == .dropped { media.depth.counter.subtract(output.items.count, ordering: .relaxed) }
        }
        guard let switched = output.switched else { return result }
        let session = id.uuidString.lowercased()
        // An input plays: a slate playing ends, and one still being made is not started.
        if switched.to != .slate, let slate = state.slate {
            state.slate = nil
            end(slate, .inputReturned, now: now)
        }
        // A session's first input is no switch; the slate's start has an event of its own.
        if switched.from != nil, switched.to != .slate {
            emit(
                InputSwitched(
                    sessionID: session, channelID: channelID, from: switched.from, to: switched.to, reason: switched.reason,
                    silentMilliseconds: switched.silent.map { Int($0.inSeconds * 1000) }, discontinuity: switched.discontinuity))
        }
        return result
    }

    private func emit(_ event: any DomainEvent) {
        guard isAnnounced, !isEnded else { return }
        emitter?.emit(event, stream: streamID, actor: .system("ingest"))
    }

    /// A connection of `role` joined the session.
    func inputConnected(_ role: IngestInputRole) {
        state.withLock { state in
            state.selector.connected(role)
            guard state.selector.connectedRoles.count > 1, state.watch == nil else { return }
            state.watch = Task { [weak self] in
                while !Task.isCancelled, (try? await Task.sleep(for: .milliseconds(100))) != nil {
                    guard let self, !self.isEnded else { return }
                    self.tick()
                }
            }
        }
    }

    /// Asks the selector (under the session's lock) and passes on what it decided.
    private func select(_ decide: (inout InputSelector, ContinuousClock.Instant) -> InputSelector.Output) {
        let now = ContinuousClock.now
        state.withLock { state in
            _ = forward(decide(&state.selector, now), state: &state, now: now)
            if state.selector.connectedRoles.count < 2 {
                state.watch?.cancel()
                state.watch = nil
            }
        }
    }

    private func tick() {
        select { selector, now in selector.tick(now: now) }
    }

    /// `role`'s connection ended: another input plays when one can.
    func inputDisconnected(_ role: IngestInputRole) {
        demand.setResume(nil, for: role)
        select { selector, now in selector.disconnected(role, now: now) }
        // Whoever plays now may have been waiting on demand that the gone input held.
        demand.produceMore()
    }

    /// The quality machine put the session in ERROR: the other input plays if it is healthy.
    public func qualityFailed() {
        select { selector, now in selector.qualityFailed(now: now) }
    }

    /// The roles connected now, and what plays.
    public var inputs: (connected: [IngestInputRole], playing: InputSource?) {
        state.withLock { ($0.selector.connectedRoles, $0.selector.active) }
    }

    /// Plays `slate` (looped, in real time) while no input is connected. The clip is made by
    /// `provider` for the tracks last played, so the ladder keeps its shape.
    func startSlate(_ provider: any SlateProvider) {
        let tracks = state.withLock { state -> [TrackInfo]? in
            guard state.selector.connectedRoles.isEmpty, state.slate == nil, !isEnded else { return nil }
            state.slate = SlateRun(task: nil, startedAt: .now, announced: false)
            return Array(state.selector.outputTracks.values)
        }
        guard let tracks, !tracks.isEmpty else { return }
        let task = Task { [weak self] in
            guard let clip = await provider.slate(matching: tracks) else { return }
            await self?.playSlate(clip)
        }
        state.withLock { state in
            if state.slate != nil { state.slate?.task = task } else { task.cancel() }
        }
    }

    private func playSlate(_ clip: SlateClip) async {
        let started = state.withLock { state -> Bool in
            guard state.slate != nil, !Task.isCancelled else { return false }
            let output = state.selector.startSlate(tracks: clip.tracks)
            guard output.switched != nil else {
                state.slate = nil
                return false
            }
            _ = forward(output, state: &state, now: .now)
            state.slate?.announced = isAnnounced
            state.slate?.startedAt = .now
            let video = clip.tracks.first { $0.kind == .video }
            emit(SlateStarted(sessionID: id.uuidString.lowercased(), channelID: channelID, width: video?.width, height: video?.height))
            return true
        }
        guard started else { return }
        let clock = ContinuousClock()
        let start = clock.now
        var loop = SlateLoop(clip: clip)
        while !Task.isCancelled, !isEnded {
            let due = loop.packets(through: start.duration(to: clock.now) + .milliseconds(100))
            let stillPlaying = state.withLock { state -> Bool in
                guard state.selector.isPlayingSlate else { return false }
                _ = forward(InputSelector.Output(items: state.selector.slate(due)), state: &state, now: .now)
                return true
            }
            guard stillPlaying, (try? await Task.sleep(for: .milliseconds(50))) != nil else { break }
        }
    }

    /// The session ends: a slate playing ends with it.
    func endSlate() {
        let now = ContinuousClock.now
        let slate = state.withLock { state -> SlateRun? in
            defer { state.slate = nil }
            return state.slate
        }
        guard let slate else { return }
        end(slate, .sessionEnded, now: now)
    }

    private func end(_ slate: SlateRun, _ reason: SlateEnded.Reason, now: ContinuousClock.Instant) {
        slate.task?.cancel()
        guard slate.announced else { return }
        emit(
            SlateEnded(
                sessionID: id.uuidString.lowercased(), channelID: channelID, reason: reason,
                durationSeconds: slate.startedAt.duration(to: now).inSeconds))
    }

    /// Bytes count from every input; the statistics the session shows (and the quality machine and
    /// ingest alerts judge) are the playing input's only.
    func update(stats: IngestStats, newBytes: UInt64, from role: IngestInputRole = .primary) {
        state.withLock {
            if $0.selector.isPlaying(role) { $0.stats = stats }
            $0.bytesReceived &+= newBytes
        }
    }

    /// Adds an announced interval to the session's statistics window; when that closes the window,
    /// emits it as `IngestStatsSampled`. Emitted under the session's lock, so windows and the
    /// final flush (`flushStats`) reach the emitter in order.
    func summarise(_ stats: IngestStats, emitter: IngestEventEmitter, actor: EventActor, from role: IngestInputRole = .primary) {
        state.withLock { state in
            guard !state.windowsClosed, state.selector.isPlaying(role), let closed = state.window.add(stats) else { return }
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

    /// Nothing more of the session is recorded (its `StreamEnded` is on its way).
    func markEnded() {
        ended.store(true, ordering: .relaxed)
    }

    func finishMedia() {
        ended.store(true, ordering: .relaxed)
        state.withLock {
            $0.watch?.cancel()
            $0.watch = nil
        }
        source.finish()
        demand.clear()
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
    /// The inputs connected (`primary`, `backup`) and what plays (`primary`, `backup`, `slate`).
    public var inputs: [IngestInputRole] = []
    public var playing: InputSource? = nil
}
