import Channels
import EventStore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The RTMP ingest server: accepts encoders, checks their keys, and turns each accepted publish
/// into a `LiveSession` (see `sessions` and `registry`).
public final class RTMPServer: Sendable {
    public let configuration: IngestConfiguration
    public let registry: SessionRegistry
    let authorizer: any PublishAuthorizer
    let emitter: IngestEventEmitter
    let logger: Logger
    private let group: any EventLoopGroup
    private let limiter: Mutex<FailedAttemptLimiter>
    private let listeners = Mutex<[any Channel]>([])
    /// Open connections, so shutdown can close those that never published.
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    let roster: ConnectionRoster
    /// Connections past the cap that are kept just long enough to tell the encoder why (a refused
    /// `connect`); past `maxExplainedRefusals` of them at once, the rest are closed at once.
    let explainingRefusals = Atomic<Int>(0)
    static let maxExplainedRefusals = 64
    /// Delivers the emitter's events from `start()` until `shutdown()`.
    private let delivery = Mutex<Task<Void, Never>?>(nil)
    /// The deployment's publish hook, asked after the key (RTMP and SRT).
    private let admissionHook = Mutex<(any PublishAdmission)?>(nil)

    /// Asks `admission` about every publish whose key was accepted, before its session starts.
    public func use(admission: any PublishAdmission) { admissionHook.withLock { $0 = admission } }
    var admission: (any PublishAdmission)? { admissionHook.withLock { $0 } }

    public init(
        configuration: IngestConfiguration = IngestConfiguration(), authorizer: any PublishAuthorizer,
        eventSink: @escaping IngestEventSink, group: any EventLoopGroup = RTMPServer.defaultGroup,
        logger: Logger = Logger(label: "streamd.ingest.rtmp")
    ) {
        self.configuration = configuration
        self.authorizer = authorizer
        self.group = group
        self.logger = logger
        emitter = IngestEventEmitter(sink: eventSink, refusals: configuration.refusals)
        registry = SessionRegistry(configuration: configuration.sessions, emitter: emitter)
        limiter = Mutex(FailedAttemptLimiter(policy: configuration.failedAttempts))
        roster = ConnectionRoster(
            limits: .init(
                total: configuration.maxConnections, perAddress: configuration.maxConnectionsPerAddress,
                quiet: configuration.quietBeforeReuse))
    }

    /// The process's RTMP connections share one event loop unless a server is given a group.
    ///
    /// One loop is plenty, and each wake-up serves every socket that became ready meanwhile, which
    /// costs less CPU per GB than spreading connections over the shared loops. It also keeps HTTP
    /// and chat traffic from delaying media reads, and the reverse
    /// (docs/benchmarks.md#rtmp-event-loop).
    public static let defaultGroup = MultiThreadedEventLoopGroup._makePerpetualGroup(threadNamePrefix: "NIO-RTMP-", numberOfThreads: 1)

    /// New live sessions (a reconnect within grace continues its session and is not repeated here).
    public var sessions: AsyncStream<LiveSession> { registry.newSessions }

    /// Failed-key counters for metrics.
    public var failedAttemptCounters: FailedAttemptLimiter.Counters {
        limiter.withLock { $0.counters(now: .now) }
    }

    public var connectionCount: Int { roster.count }

    /// Connections that never published, closed to make room for new ones at a cap, since start.
    public var reusedConnectionCount: Int { roster.evictionCount }

    /// Binds and starts accepting; returns the bound port (pass 0 for any free port). With `tls`,
    /// the listener is RTMPS: TLS first, then the same handshake, sessions and events as RTMP
    /// (`protocol` "rtmps"). Called once per listener.
    @discardableResult
    public func start(host: String = "0.0.0.0", port: Int = 1935, tls: TLSCertificates? = nil) async throws -> Int {
        startDelivery()
        let transport = tls == nil ? "rtmp" : "rtmps"
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelInitializer { [self] channel in
                let id = ObjectIdentifier(channel)
                connections.withLock { $0[id] = channel }
                channel.closeFuture.whenComplete { [self] _ in connections.withLock { $0[id] = nil } }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.rtmpsContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(RTMPConnectionHandler(server: self, transport: transport))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        listeners.withLock { $0.append(channel) }
        let bound = channel.localAddress?.port ?? port
        logger.info("\(transport.uppercased()) ingest listening", metadata: ["host": "\(host)", "port": "\(bound)"])
        return bound
    }

    /// Starts delivering the shared emitter's events, once (the SRT server's start calls it too).
    func startDelivery() {
        delivery.withLock { task in
            if task == nil { task = Task { [emitter] in await emitter.run() } }
        }
    }

    /// Stops accepting, ends every session (`StreamEnded(shutdown)`) and flushes the events.
    public func shutdown() async {
        let bound = listeners.withLock { value -> [any Channel] in
            defer { value = [] }
            return value
        }
        for channel in bound { try? await channel.close() }
        await registry.endAll(reason: .shutdown)
        for connection in connections.withLock({ Array($0.values) }) { connection.close(promise: nil) }
        emitter.finish()
        await delivery.withLock { $0 }?.value
    }

    enum Admission: Sendable {
        case started(LiveSession)
        case resumed(LiveSession)
        case attached(LiveSession)
        case refused(PublishRefusalReason)
    }

    /// The key check and the limits, in order: lock-out, key, channel claim.
    func admit(
        _ request: RTMPSession.PublishRequest, remoteAddress: String, host: String, transport: String,
        connection: SessionRegistry.Connection
    ) async -> Admission {
        let verdict = limiter.withLock { $0.check(host, now: .now) }
        if case .lockedOut(let remaining) = verdict {
            let reason = PublishRefusalReason.tooManyFailedAttempts(retryAfterSeconds: Int(remaining.components.seconds) + 1)
            rejected(reason, request: request, remoteAddress: remoteAddress, transport: transport, summariseOnly: true)
            return .refused(reason)
        }
        if emitter.isSaturated {
            let reason = PublishRefusalReason.unavailable("the event log is behind; try again in a few seconds")
            rejected(reason, request: request, remoteAddress: remoteAddress, transport: transport)
            return .refused(reason)
        }
        let authorization = await authorizer.authorize(app: request.application, streamKey: request.streamKey, remote: remoteAddress)
        switch authorization {
        case .refused(let reason):
            rejected(reason, request: request, remoteAddress: remoteAddress, transport: transport)
            emitter.recordRefusal(reason, host: host, limiter: limiter, policy: configuration.failedAttempts, logger: logger)
            return .refused(reason)
        case .accepted(let channelID, let channelName):
            limiter.withLock { $0.recordSuccess(host) }
            if let admission,
                case .refused(let why) = await admission.admit(
                    AdmissionRequest(
                        channelID: channelID, channelName: channelName, protocol: transport, remoteAddress: remoteAddress,
                        app: request.application))
            {
                let reason = PublishRefusalReason.admissionRefused(channelID: channelID, channelName: channelName, reason: why)
                rejected(reason, request: request, remoteAddress: remoteAddress, transport: transport)
                return .refused(reason)
            }
            switch await registry.claim(
                channelID: channelID, channelName: channelName, remoteAddress: remoteAddress, protocol: transport, connection: connection)
            {
            case .started(let session): return .started(session)
            case .resumed(let session): return .resumed(session)
            case .attached(let session): return .attached(session)
            case .refused(let reason):
                rejected(reason, request: request, remoteAddress: remoteAddress, transport: transport)
                return .refused(reason)
            }
        }
    }

    /// Records a refusal (or counts it into a summary: see `IngestEventEmitter.refused`), and logs
    /// the recorded ones; counted ones log at debug level, so a flood grows neither the event log
    /// nor the process log.
    func rejected(
        _ reason: PublishRefusalReason, request: RTMPSession.PublishRequest?, remoteAddress: String, transport: String,
        detail: String? = nil,
        summariseOnly: Bool = false
    ) {
        let event = PublishRejected(
            reason: reason.name, detail: detail ?? reason.message, remoteAddress: remoteAddress, protocol: transport,
            app: request?.application, keyFingerprint: request.map { StreamKey.fingerprint($0.streamKey) }, channelID: reason.channelID,
            channelName: reason.channelName)
        IngestMetrics.refused(reason: reason.name, protocol: transport)
        let host = Self.host(of: remoteAddress)
        let stream = reason.stream(host: host)
        let recorded = emitter.refused(
            event, stream: stream, host: host, actor: EventActor(.encoder, id: remoteAddress), summariseOnly: summariseOnly)
        logger.log(
            level: recorded ? .notice : .debug, "publish rejected", metadata: ["remote": "\(remoteAddress)", "reason": "\(reason.name)"])
    }

    static func host(of address: String) -> String {
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<end])
        }
        guard address.filter({ $0 == ":" }).count == 1, let colon = address.lastIndex(of: ":") else { return address }
        return String(address[..<colon])
    }
}
