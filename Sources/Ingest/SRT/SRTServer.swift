import CSRT
import Channels
import Dispatch
import EventStore
import Foundation
import Logging
import Synchronization

/// The SRT ingest listener (libsrt, live mode): refuses bad stream ids and keys in the handshake,
/// with the SRT Access Control reject reasons, and feeds accepted publishes into the same
/// `SessionRegistry` as the RTMP server, so both protocols share one sessions stream, one
/// listing, "channel already live" and kicks.
///
/// Threads: libsrt calls the listen callback on its own receiving thread; everything else about
/// the connections runs on one dedicated thread (`SRTReceiveLoop`). Swift's cooperative pool is
/// never blocked.
public final class SRTServer: Sendable {
    public let configuration: SRTConfiguration
    public let registry: SessionRegistry
    let ingest: IngestConfiguration
    let application: String
    let keys: any ImmediatePublishAuthorizer
    let emitter: IngestEventEmitter
    /// Runs the shared emitter's delivery (started by whichever server starts first).
    private let rtmp: RTMPServer
    let logger: Logger
    private let limiter: Mutex<FailedAttemptLimiter>
    /// Keys accepted in the listen callback, waiting for `accept` to hand over their socket.
    private let verdicts = Mutex<[SRTSOCKET: Verdict]>([:])
    private let refusals = Mutex(RecentRefusals())
    private let timings = Mutex(AuthorizationTimings())
    private let running = Mutex<SRTReceiveLoop?>(nil)
    /// Accepted SRT connections per address (counted in `SRTReceiveLoop`), for the per-address cap.
    let addressCounts: Mutex<AddressConnectionCounts>

    struct Verdict: Sendable {
        var channelID: String
        var channelName: String
        var streamKey: String
        var remoteAddress: String
        var at: ContinuousClock.Instant
        var role: IngestInputRole = .primary
    }

    /// How long the listen callback took (it runs on libsrt's receiving thread); `timeouts` counts
    /// checks for a live channel that gave up waiting on the session registry.
    public struct AuthorizationTimings: Sendable, Hashable {
        public var count = 0
        public var totalMilliseconds = 0.0
        public var maxMilliseconds = 0.0
        public var timeouts = 0
        public var meanMilliseconds: Double { count > 0 ? totalMilliseconds / Double(count) : 0 }
    }

    /// Shares `rtmp`'s session registry, event emitter and ingest configuration. Keys are checked
    /// by `keys` (the platform's `StreamKeyCache`), or by `rtmp`'s authorizer when that answers
    /// from memory too; with neither every caller is refused as unavailable.
    public init(
        configuration: SRTConfiguration = SRTConfiguration(), sharingSessionsWith rtmp: RTMPServer,
        keys: (any ImmediatePublishAuthorizer)? = nil, logger: Logger = Logger(label: "streamd.ingest.srt")
    ) {
        self.configuration = configuration
        self.registry = rtmp.registry
        self.ingest = rtmp.configuration
        self.application = configuration.application ?? rtmp.configuration.application
        self.keys = keys ?? (rtmp.authorizer as? any ImmediatePublishAuthorizer) ?? NoKeyTable()
        self.emitter = rtmp.emitter
        self.rtmp = rtmp
        self.logger = logger
        limiter = Mutex(FailedAttemptLimiter(policy: rtmp.configuration.failedAttempts))
        addressCounts = Mutex(AddressConnectionCounts(limit: rtmp.configuration.maxConnectionsPerAddress))
    }

    /// Refuses every key: an SRT server built without an in-memory key table.
    struct NoKeyTable: ImmediatePublishAuthorizer {
        func authorizeNow(app: String, streamKey: String, remote: String) -> PublishAuthorization {
            .refused(.unavailable("this server has no in-memory stream key table for SRT"))
        }
    }

    /// New live sessions of both protocols (the shared registry's stream).
    public var sessions: AsyncStream<LiveSession> { registry.newSessions }

    public var failedAttemptCounters: FailedAttemptLimiter.Counters {
        limiter.withLock { $0.counters(now: .now) }
    }

    public var authorizationTimings: AuthorizationTimings { timings.withLock { $0 } }

    public var connectionCount: Int { running.withLock { $0?.connectionCount } ?? 0 }

    /// Binds the UDP port and starts accepting; returns the bound port (0 picks a free one).
    @discardableResult
    public func start(host: String = "0.0.0.0", port: Int = 9000) throws(SRTServerError) -> Int {
        rtmp.startDelivery()
        try configuration.validate()
        SRTLibrary.started
        // On every error below, the listener's `deinit` closes it.
        let listener: SRTSocket
        do {
            listener = try SRTSocket()
        } catch {
            throw SRTServerError("cannot create an SRT socket: \(error.message)")
        }
        do throws(SRTError) {
            try listener.set(SRTO_TRANSTYPE, Int32(bitPattern: SRTT_LIVE.rawValue))
            try listener.set(SRTO_RCVSYN, false)
            try listener.set(SRTO_SNDSYN, false)
            try listener.set(SRTO_RCVLATENCY, Int32(configuration.latencyMilliseconds))
            try listener.set(SRTO_PEERLATENCY, Int32(configuration.latencyMilliseconds))
            if let passphrase = configuration.passphrase {
                try listener.set(SRTO_PASSPHRASE, passphrase)
                try listener.set(SRTO_PBKEYLEN, Int32(configuration.keyLength))
                try listener.set(SRTO_ENFORCEDENCRYPTION, true)
            }
        } catch {
            throw SRTServerError("cannot configure the SRT listener: \(error.message)")
        }
        let bound = SRTSocketAddress.withAddress(host: host, port: port) { address, length in
            Result { () throws(SRTError) in try listener.bind(address, length: length) }
        }
        guard let bound else {
            throw SRTServerError(
                "'\(host)' is not a numeric IPv4 or IPv6 address to listen on for SRT; use 0.0.0.0, :: or an interface's address")
        }
        if case .failure(let error) = bound {
            throw SRTServerError("cannot listen for SRT on \(host):\(port) (\(error.message)); choose another --srt-port")
        }
        do throws(SRTError) {
            try listener.setListenCallback { [self] caller in decide(caller) }
            try listener.listen(backlog: configuration.backlog)
        } catch {
            throw SRTServerError("cannot listen for SRT on \(host):\(port) (\(error.message)); choose another --srt-port")
        }
        let actual = (try? listener.localAddress()).flatMap(SRTSocketAddress.port(of:)) ?? port
        let loop = try SRTReceiveLoop(server: self, listener: listener)
        running.withLock { $0 = loop }
        loop.start()
        logger.info(
            "SRT ingest listening",
            metadata: [
                "host": "\(host)", "port": "\(actual)", "latency_ms": "\(configuration.latencyMilliseconds)",
                "encrypted": "\(configuration.passphrase != nil)",
            ])
        return actual
    }

    /// Stops accepting and ends this listener's sessions (`StreamEnded(shutdown)`). The events
    /// are flushed by the RTMP server's shutdown, which owns the shared emitter.
    public func shutdown() async {
        guard
            let loop = running.withLock({ value in
                defer { value = nil }; return value
            })
        else { return }
        let ended = await loop.stop()
        for ending in ended {
            await registry.connectionEnded(ending.sessionID, token: ending.token, reason: ending.reason, detail: ending.detail)
        }
    }

    // MARK: Access control, in libsrt's listen callback

    /// Accepts (true) or refuses (false, with a reject reason) an incoming caller before its handshake
    /// completes. A repeat of an attempt just refused gets the same answer and no new event (see
    /// `RecentRefusals`).
    func decide(_ caller: SRTSocket.Caller) -> Bool {
        let (remote, host) = SRTSocketAddress.describe(caller.peer)
        let attempt = RecentRefusals.attempt(remote: remote, streamID: caller.streamID)
        if let code = refusals.withLock({ $0.repeated(attempt, now: .now) }) { return refuse(caller, code) }
        guard addressCounts.withLock({ $0.admits(host) }) else {
            logger.notice(
                "SRT caller refused: \(ingest.maxConnectionsPerAddress) connections from its address are already open",
                metadata: ["remote": "\(remote)"])
            refusals.withLock { $0.record(attempt, code: SRT_REJX_OVERLOAD, now: .now) }
            return refuse(caller, SRT_REJX_OVERLOAD)
        }
        let code = evaluate(socket: caller.id, remote: remote, host: host, streamID: caller.streamID)
        guard code != 0 else { return true }
        refusals.withLock { $0.record(attempt, code: code, now: .now) }
        return refuse(caller, code)
    }

    /// 0 to accept, else the reject reason; refusals are logged and recorded as events here.
    private func evaluate(socket: SRTSOCKET, remote: String, host: String, streamID: String?) -> Int32 {
        let request: SRTStreamID
        do {
            request = try SRTStreamID(parsing: streamID ?? "")
        } catch {
            rejected(.malformedRequest(error.description), request: nil, remoteAddress: remote, detail: error.description)
            return SRTRejection.code(for: error)
        }
        guard request.application == application else {
            let detail = "unknown application '\(request.application)'; set the stream id to #!::r=\(application)/STREAMKEY,m=publish"
            rejected(.malformedRequest(detail), request: request, remoteAddress: remote, detail: detail)
            return SRT_REJX_NOTFOUND
        }
        guard request.mode == .publish else {
            let detail = "streamd does not play streams over SRT (m=\(request.mode.rawValue)); publish with m=publish and watch over HLS"
            rejected(.malformedRequest(detail), request: request, remoteAddress: remote, detail: detail)
            return SRT_REJX_BAD_MODE
        }
        if case .lockedOut(let remaining) = limiter.withLock({ $0.check(host, now: .now) }) {
            let reason = PublishRefusalReason.tooManyFailedAttempts(retryAfterSeconds: Int(remaining.components.seconds) + 1)
            rejected(reason, request: request, remoteAddress: remote, summariseOnly: true)
            return SRTRejection.code(for: reason)
        }
        let now = ContinuousClock.now
        let key = request.streamKey
        let authorization = keys.authorizeNow(app: request.application, streamKey: key, remote: remote)
        // Whether the channel is live already, so that the caller gets the 1409 reject reason
        // rather than a connection closed after its handshake. The registry is in memory, but an
        // actor: if the cooperative pool is starved the wait gives up and `claim` decides instead.
        var live = false
        var elsewhere: String?
        var gaveUp = false
        if case .accepted(let channelID, _) = authorization {
            let registry = registry
            if let answer = Self.wait(
                for: configuration.liveCheckTimeout,
                { () -> (Bool, String?) in
                    if await registry.list().contains(where: { $0.channelID == channelID && $0.inputs.contains(request.role) }) {
                        return (true, nil)
                    }
                    return (false, await registry.holderElsewhere(channelID: channelID))
                })
            {
                (live, elsewhere) = answer
            } else {
                gaveUp = true
            }
        }
        let waited = Self.milliseconds(now.duration(to: .now))
        timings.withLock {
            $0.count += 1
            $0.totalMilliseconds += waited
            $0.maxMilliseconds = max($0.maxMilliseconds, waited)
            if gaveUp { $0.timeouts += 1 }
        }
        switch authorization {
        case .refused(let reason):
            rejected(reason, request: request, remoteAddress: remote)
            emitter.recordRefusal(reason, host: host, limiter: limiter, policy: ingest.failedAttempts, logger: logger)
            return SRTRejection.code(for: reason)
        case .accepted(let channelID, let channelName):
            limiter.withLock { $0.recordSuccess(host) }
            guard !live else {
                let reason =
                    request.role == .backup
                    ? PublishRefusalReason.backupAlreadyLive(channelID: channelID, channelName: channelName)
                    : PublishRefusalReason.channelAlreadyLive(channelID: channelID, channelName: channelName)
                rejected(reason, request: request, remoteAddress: remote)
                return SRTRejection.code(for: reason)
            }
            if let node = elsewhere {
                let reason = PublishRefusalReason.liveOnAnotherNode(channelID: channelID, channelName: channelName, node: node)
                rejected(reason, request: request, remoteAddress: remote)
                return SRTRejection.code(for: reason)
            }
            if let admission = rtmp.admission {
                let asked = AdmissionRequest(
                    channelID: channelID, channelName: channelName, protocol: "srt", remoteAddress: remote, app: request.application)
                // libsrt's thread waits for the hook (which has its own timeout, and a default).
                let verdict = Self.wait(for: configuration.admissionTimeout) { await admission.admit(asked) }
                if verdict != .allowed {
                    let why: String
                    if case .refused(let given)? = verdict { why = given } else { why = "the publish hook did not answer in time" }
                    let reason = PublishRefusalReason.admissionRefused(channelID: channelID, channelName: channelName, reason: why)
                    rejected(reason, request: request, remoteAddress: remote)
                    return SRTRejection.code(for: reason)
                }
            }
            verdicts.withLock {
                $0[socket] = Verdict(
                    channelID: channelID, channelName: channelName, streamKey: key, remoteAddress: remote, at: .now, role: request.role)
            }
            return 0
        }
    }

    private func refuse(_ caller: SRTSocket.Caller, _ code: Int32) -> Bool {
        caller.reject(code)
        return false
    }

    /// Runs `work` on the cooperative pool and blocks this (libsrt's) thread until it finishes or `timeout` passes.
    private static func wait<T: Sendable>(for timeout: Duration, _ work: @escaping @Sendable () async -> T) -> T? {
        let result = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let value = await work()
            result.withLock { $0 = value }
            done.signal()
        }
        let nanoseconds = Int(clamping: timeout.components.seconds &* 1_000_000_000 &+ timeout.components.attoseconds / 1_000_000_000)
        guard done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return nil }
        return result.withLock { $0 }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        duration.inSeconds * 1000
    }

    // MARK: After the handshake

    /// The verdict the listen callback left for an accepted socket.
    func takeVerdict(_ socket: SRTSOCKET) -> Verdict? {
        verdicts.withLock { $0.removeValue(forKey: socket) }
    }

    /// Forgets verdicts whose handshake never completed (a wrong passphrase fails after the callback).
    func forgetStaleVerdicts(now: ContinuousClock.Instant) {
        verdicts.withLock { verdicts in
            verdicts = verdicts.filter { $0.value.at.duration(to: now) < .seconds(30) }
        }
    }

    /// Claims the channel for an accepted caller (after the handshake: a claim is never left behind by a failed one).
    func claim(_ verdict: Verdict, connection: SessionRegistry.Connection) async -> SessionRegistry.Claim {
        let claim = await registry.claim(
            channelID: verdict.channelID, channelName: verdict.channelName, remoteAddress: verdict.remoteAddress,
            protocol: "srt", connection: connection)
        if case .refused(let reason) = claim {
            rejected(
                reason, request: SRTStreamID(application: application, streamKey: verdict.streamKey),
                remoteAddress: verdict.remoteAddress)
        }
        return claim
    }

    /// Records or summarises a refusal, as `RTMPServer.rejected` does.
    func rejected(
        _ reason: PublishRefusalReason, request: SRTStreamID?, remoteAddress: String, detail: String? = nil, summariseOnly: Bool = false
    ) {
        let event = PublishRejected(
            reason: reason.name, detail: detail ?? reason.message, remoteAddress: remoteAddress, protocol: "srt",
            app: request?.application, keyFingerprint: request.map { StreamKey.fingerprint($0.streamKey) }, channelID: reason.channelID,
            channelName: reason.channelName)
        IngestMetrics.refused(reason: reason.name, protocol: "srt")
        let host = RTMPServer.host(of: remoteAddress)
        let stream = reason.stream(host: host)
        let recorded = emitter.refused(
            event, stream: stream, host: host, actor: EventActor(.encoder, id: remoteAddress), summariseOnly: summariseOnly)
        logger.log(
            level: recorded ? .notice : .debug, "SRT publish rejected",
            metadata: ["remote": "\(remoteAddress)", "reason": "\(reason.name)"])
    }
}
