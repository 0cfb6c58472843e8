import EventStore
import Foundation
import Media

/// Live sessions by id and by channel: claims on publish, the reconnect grace window, kicks, the
/// listing for `GET /v1/streams`, and the session lifecycle events (`StreamStarted`,
/// `StreamResumed`, `StreamEnded`), each emitted exactly once.
public actor SessionRegistry {
    public struct Configuration: Sendable, Hashable {
        /// How long a session whose encoder went away waits for it to come back.
        public var graceWindow: Duration
        public var maxPublishers: Int
        public var mediaLowWatermark: Int
        public var mediaHighWatermark: Int
        /// This node's id in a cluster, recorded in `StreamStarted`.
        public var nodeID: String?
        /// No media for this long from the playing input switches to the other (backup ingest).
        public var inputStall: Duration
        /// A primary that came back plays again after this long without a stall.
        public var inputSwitchBack: Duration

        public init(
            graceWindow: Duration = .seconds(10), maxPublishers: Int = 100, mediaLowWatermark: Int = 64, mediaHighWatermark: Int = 512,
            nodeID: String? = nil, inputStall: Duration = .milliseconds(1500), inputSwitchBack: Duration = .seconds(5)
        ) {
            self.graceWindow = graceWindow
            self.maxPublishers = maxPublishers
            self.mediaLowWatermark = mediaLowWatermark
            self.mediaHighWatermark = mediaHighWatermark
            self.nodeID = nodeID
            self.inputStall = inputStall
            self.inputSwitchBack = inputSwitchBack
        }
    }

    /// How the registry reaches the connection feeding a session: closes it, telling the encoder why.
    struct Connection: Sendable {
        let token: UInt64
        /// Where this connection produces media (its event loop); nil for a thread of its own (SRT).
        var executor: (any TaskExecutor)? = nil
        var role: IngestInputRole = .primary
        let close: @Sendable (_ code: String, _ description: String) -> Void
    }

    enum Claim: Sendable {
        case started(LiveSession)
        case resumed(LiveSession)
        /// A second input (the backup, or the primary beside a playing backup) joined a live session.
        case attached(LiveSession)
        case refused(PublishRefusalReason)
    }

    private struct Waiting {
        var since: ContinuousClock.Instant
        var wallClock: Date
        var timer: Task<Void, Never>
    }

    private struct Entry {
        var session: LiveSession
        var connections: [IngestInputRole: Connection]
        /// Set while no input is connected: the grace window runs.
        var waiting: Waiting?
    }

    public let configuration: Configuration
    private let emitter: IngestEventEmitter
    private var entries: [UUID: Entry] = [:]
    private var byChannel: [String: UUID] = [:]
    private var nextToken: UInt64 = 1
    /// The cluster's holds on channels (nil on a single node), the token of each channel this
    /// node's sessions hold, and the channels whose take is in flight.
    private var holds: (any ChannelHolds)?
    private var holdTokens: [String: String] = [:]
    private var taking: Set<String> = []
    private var holdOrder: Int64 = 0
    /// New sessions (not resumed ones), for the integrator to hand to the transcoder.
    public nonisolated let newSessions: AsyncStream<LiveSession>
    private let newSessionsContinuation: AsyncStream<LiveSession>.Continuation

    init(configuration: Configuration, emitter: IngestEventEmitter) {
        self.configuration = configuration
        self.emitter = emitter
        (newSessions, newSessionsContinuation) = AsyncStream.makeStream(of: LiveSession.self)
    }

    /// A registry whose events go to `sink` from a task of its own that lives as long as the
    /// process (for tests and tools; the server makes its registry and delivers its events itself).
    public static func standalone(configuration: Configuration = Configuration(), sink: @escaping IngestEventSink) -> SessionRegistry {
        let emitter = IngestEventEmitter(sink: sink)
        Task { await emitter.run() }
        return SessionRegistry(configuration: configuration, emitter: emitter)
    }

    func makeToken() -> UInt64 {
        defer { nextToken += 1 }
        return nextToken
    }

    /// Makes this node take each channel in the cluster before a session starts on it.
    public func use(_ holds: any ChannelHolds) { self.holds = holds }

    private var slate: (any SlateProvider)?

    /// Plays a slate made by `provider` in sessions whose inputs are all gone, until one returns or
    /// the grace window ends.
    public func use(slate provider: any SlateProvider) { slate = provider }

    /// The node holding `channelID` in the cluster when it is not live here.
    func holderElsewhere(channelID: String) async -> String? {
        guard byChannel[channelID] == nil, let holds else { return nil }
        return await holds.holderElsewhere(channelID: channelID)
    }

    /// Claims the channel for a publisher whose key was accepted.
    func claim(
        channelID: String, channelName: String, remoteAddress: String, protocol: String = "rtmp",
        connection: Connection
    ) async -> Claim {
        // The encoder is back within the grace window: the channel is still this node's unless
        // another node took it meanwhile, which ends the waiting session here.
        if let holds, let id = byChannel[channelID], entries[id]?.waiting != nil, let token = holdTokens[channelID] {
            holdOrder += 1
            let still = await holds.waiting(channelID: channelID, token: token, false, order: holdOrder)
            if !still, let id = byChannel[channelID], entries[id]?.waiting != nil {
                let node = await holds.holderElsewhere(channelID: channelID) ?? "another node"
                end(
                    id, reason: .encoderClosed, detail: "its channel went live on \(node) within the grace window", actor: .system("ingest")
                )
                return .refused(.liveOnAnotherNode(channelID: channelID, channelName: channelName, node: node))
            }
        }
        if byChannel[channelID] == nil, let holds {
            // One take per channel at a time: a second publisher waits for nothing and is refused.
            guard taking.insert(channelID).inserted else {
                return .refused(.channelAlreadyLive(channelID: channelID, channelName: channelName))
            }
            let hold = await holds.take(channelID: channelID)
            taking.remove(channelID)
            switch hold {
            case .elsewhere(let node):
                return .refused(.liveOnAnotherNode(channelID: channelID, channelName: channelName, node: node))
            case .held(let token):
                let claim = claimLocally(
                    channelID: channelID, channelName: channelName, remoteAddress: remoteAddress, protocol: `protocol`,
                    connection: connection)
                if case .started = claim {
                    if let token { holdTokens[channelID] = token }
                } else if let token {
                    Task { await holds.giveBack(channelID: channelID, token: token) }
                }
                return claim
            }
        }
        return claimLocally(
            channelID: channelID, channelName: channelName, remoteAddress: remoteAddress, protocol: `protocol`, connection: connection)
    }

    private func claimLocally(
        channelID: String, channelName: String, remoteAddress: String, protocol: String, connection: Connection
    ) -> Claim {
        let role = connection.role
        if let id = byChannel[channelID], var entry = entries[id] {
            guard entry.connections[role] == nil else {
                return .refused(
                    role == .backup
                        ? .backupAlreadyLive(channelID: channelID, channelName: channelName)
                        : .channelAlreadyLive(channelID: channelID, channelName: channelName))
            }
            entry.connections[role] = connection
            let session = entry.session
            session.inputConnected(role)
            guard let waiting = entry.waiting else {
                entries[id] = entry
                return .attached(session)
            }
            waiting.timer.cancel()
            entry.waiting = nil
            entries[id] = entry
            session.flushStats(emitter: emitter, actor: EventActor(.encoder, id: session.remoteAddress), final: false)
            session.reconnected(from: remoteAddress, executor: connection.executor)
            let gap = waiting.since.duration(to: .now)
            emitter.emit(
                StreamResumed(
                    sessionID: session.id.uuidString.lowercased(), channelID: channelID, remoteAddress: remoteAddress,
                    gapMilliseconds: Int(gap.components.seconds * 1000 + gap.components.attoseconds / 1_000_000_000_000_000)),
                stream: session.streamID, actor: EventActor(.encoder, id: remoteAddress))
            return .resumed(session)
        }
        guard entries.count < configuration.maxPublishers else {
            return .refused(.serverFull(limit: configuration.maxPublishers))
        }
        let session = LiveSession(
            channelID: channelID, channelName: channelName, remoteAddress: remoteAddress, protocol: `protocol`,
            lowWatermark: configuration.mediaLowWatermark, highWatermark: configuration.mediaHighWatermark,
            executor: connection.executor,
            inputs: InputSelector.Options(stallAfter: configuration.inputStall, switchBackAfter: configuration.inputSwitchBack),
            registry: self, emitter: emitter)
        session.inputConnected(role)
        entries[session.id] = Entry(session: session, connections: [role: connection])
        byChannel[channelID] = session.id
        newSessionsContinuation.yield(session)
        return .started(session)
    }

    /// The connection feeding a session ended. An encoder that went away gets the grace window;
    /// anything else ends the session now.
    func connectionEnded(_ sessionID: UUID, token: UInt64, reason: StreamEnded.Reason, detail: String?) {
        guard var entry = entries[sessionID], let role = entry.connections.first(where: { $0.value.token == token })?.key else { return }
        entry.connections[role] = nil
        entries[sessionID] = entry
        entry.session.inputDisconnected(role)
        // The other input carries the session on.
        guard entry.connections.isEmpty else { return }
        entry.session.flushStats(emitter: emitter, actor: EventActor(.encoder, id: entry.session.remoteAddress), final: false)
        guard reason == .encoderClosed, configuration.graceWindow > .zero else {
            end(
                sessionID, reason: reason, detail: detail,
                actor: reason == .timeout ? .system("ingest") : EventActor(.encoder, id: entry.session.remoteAddress))
            return
        }
        let grace = configuration.graceWindow
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: grace)) != nil else { return }
            await self?.graceExpired(sessionID, token: token)
        }
        entry.waiting = Waiting(since: .now, wallClock: Date(), timer: timer)
        entries[sessionID] = entry
        if let slate { entry.session.startSlate(slate) }
        let channel = entry.session.channelID
        if let holds, let holdToken = holdTokens[channel] {
            holdOrder += 1
            let order = holdOrder
            Task { _ = await holds.waiting(channelID: channel, token: holdToken, true, order: order) }
        }
    }

    /// Channels whose session here waits for its encoder.
    public func waitingChannels() -> [String] {
        entries.values.compactMap { entry in entry.waiting == nil ? nil : entry.session.channelID }
    }

    /// Ends the waiting session of `channelID`: another node (`node`) took the channel live.
    public func endTakenOver(channelID: String, by node: String) {
        guard let id = byChannel[channelID], entries[id]?.waiting != nil else { return }
        holdTokens[channelID] = nil
        end(id, reason: .encoderClosed, detail: "its channel went live on \(node) within the grace window", actor: .system("ingest"))
    }

    private func graceExpired(_ sessionID: UUID, token: UInt64) {
        guard let entry = entries[sessionID], entry.waiting != nil else { return }
        end(sessionID, reason: .encoderClosed, detail: nil, actor: EventActor(.encoder, id: entry.session.remoteAddress))
    }

    /// Ends a session by id (admin `DELETE /v1/streams/ID`): `StreamEnded(kicked)` with the actor.
    @discardableResult
    public func kick(sessionID: UUID, by actor: EventActor = .admin, reason: String? = nil) -> Bool {
        kick(sessionID: sessionID, metadata: EventMetadata(actor: actor, reason: reason))
    }

    /// Ends a session by id: `StreamEnded(kicked)` carries `metadata` (who, why, and the request
    /// or event that led to it); its reason is the detail the encoder is told.
    @discardableResult
    public func kick(sessionID: UUID, metadata: EventMetadata) -> Bool {
        guard let entry = entries[sessionID] else { return false }
        let actor = metadata.actor
        let reason = metadata.reason
        for connection in entry.connections.values {
            connection.close(
                "NetStream.Publish.Denied",
                "this stream was stopped by \(actor.kind == .admin ? "an administrator" : actor.description)"
                    + (reason.map { ": \($0)" } ?? "") + "; contact the channel's owner before publishing again")
        }
        end(sessionID, reason: .kicked, detail: reason, metadata: metadata)
        return true
    }

    /// Ends a channel's live session (a revoked key kicks its session).
    @discardableResult
    public func kick(channelID: String, by actor: EventActor = .admin, reason: String? = nil) -> Bool {
        kick(channelID: channelID, metadata: EventMetadata(actor: actor, reason: reason))
    }

    @discardableResult
    public func kick(channelID: String, metadata: EventMetadata) -> Bool {
        guard let id = byChannel[channelID] else { return false }
        return kick(sessionID: id, metadata: metadata)
    }

    public func list() -> [LiveSessionSummary] {
        entries.values.map { entry in
            let session = entry.session
            var stats = session.stats
            stats.queueDepth = session.queueDepth
            let inputs = session.inputs
            return LiveSessionSummary(
                id: session.id, channelID: session.channelID, channelName: session.channelName, protocol: session.protocol,
                remoteAddress: session.remoteAddress, startedAt: session.startedAt, connected: !entry.connections.isEmpty,
                reconnects: session.reconnects, bytesReceived: session.bytesReceived, stats: stats, inputs: inputs.connected,
                playing: inputs.playing)
        }
        .sorted { $0.startedAt < $1.startedAt }
    }

    public func session(id: UUID) -> LiveSession? { entries[id]?.session }

    public func session(channelID: String) -> LiveSession? { byChannel[channelID].flatMap { entries[$0]?.session } }

    public var count: Int { entries.count }

    /// Ends every session (server shutdown).
    func endAll(reason: StreamEnded.Reason) {
        for (id, entry) in entries {
            for connection in entry.connections.values {
                connection.close("NetStream.Publish.Denied", "the server is shutting down; reconnect in a moment")
            }
            end(id, reason: reason, detail: nil, actor: .system("ingest"))
        }
        newSessionsContinuation.finish()
    }

    private func end(_ sessionID: UUID, reason: StreamEnded.Reason, detail: String?, actor: EventActor) {
        end(sessionID, reason: reason, detail: detail, metadata: EventMetadata(actor: actor, reason: detail))
    }

    private func end(_ sessionID: UUID, reason: StreamEnded.Reason, detail: String?, metadata: EventMetadata) {
        guard let entry = entries.removeValue(forKey: sessionID) else { return }
        let session = entry.session
        if byChannel[session.channelID] == sessionID { byChannel[session.channelID] = nil }
        if let holds, let token = holdTokens.removeValue(forKey: session.channelID) {
            Task { await holds.giveBack(channelID: session.channelID, token: token) }
        }
        var endedAt = Date()
        if let waiting = entry.waiting {
            waiting.timer.cancel()
            endedAt = waiting.wallClock
        }
        session.endSlate()
        if session.claimAnnouncement() {
            emitter.emit(Self.started(session), stream: session.streamID, actor: EventActor(.encoder, id: session.remoteAddress))
        }
        session.markEnded()
        session.flushStats(emitter: emitter, actor: EventActor(.encoder, id: session.remoteAddress), final: true)
        emitter.emit(
            StreamEnded(
                sessionID: session.id.uuidString.lowercased(), channelID: session.channelID, reason: reason, detail: detail,
                durationSeconds: max(0, endedAt.timeIntervalSince(session.startedAt)),
                bytesReceived: session.bytesReceived, reconnects: session.reconnects),
            stream: session.streamID, metadata: metadata)
        // After StreamEnded is queued: what ending the media sets off downstream (the recording's
        // finalization) follows it in the log.
        session.finishMedia()
    }

    static func started(_ session: LiveSession) -> StreamStarted {
        StreamStarted(
            sessionID: session.id.uuidString.lowercased(), channelID: session.channelID, channelName: session.channelName,
            protocol: session.protocol, remoteAddress: session.remoteAddress,
            description: session.streamDescription ?? StreamDescription(video: nil, audio: nil, encoder: nil), nodeID: session.nodeID)
    }
}
