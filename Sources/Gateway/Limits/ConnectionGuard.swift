import Hummingbird
import Ingest
import Logging
import NIOCore
import NIOTLS
import Synchronization

/// Counts the HTTP side's connections and chat sockets, overall and per address, for the caps in
/// `HTTPLimits`. Shared by every connection's `ConnectionGuardHandler`.
public final class ConnectionGuard: Sendable {
    public let limits: HTTPLimits
    let logger: Logger
    let roster: ConnectionRoster
    private let webSockets: Mutex<AddressConnectionCounts>
    private let openWebSockets = Atomic<Int>(0)

    public init(limits: HTTPLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
        roster = ConnectionRoster(
            limits: .init(total: limits.maxConnections, perAddress: limits.maxConnectionsPerAddress, quiet: limits.quietBeforeReuse))
        webSockets = Mutex(AddressConnectionCounts(limit: limits.maxWebSocketsPerAddress))
    }

    public var connectionCount: Int { roster.count }
    public var webSocketCount: Int { openWebSockets.load(ordering: .relaxed) }

    enum Admission {
        case admitted(ConnectionRoster.Entry)
        case refused(reason: String, log: Bool)
    }

    func admitConnection(from host: String, channel: any Channel) -> Admission {
        switch roster.admit(host: host, close: { channel.close(promise: nil) }) {
        case .admitted(let entry):
            return .admitted(entry)
        case .refused(.full, let inARow):
            return .refused(
                reason: "the server is at its limit of \(limits.maxConnections) HTTP connections, all busy",
                log: AddressConnectionCounts.shouldLog(refusals: inARow))
        case .refused(.addressFull, let inARow):
            return .refused(
                reason: "\(limits.maxConnectionsPerAddress) HTTP connections from your address are already open and busy; reuse them",
                log: AddressConnectionCounts.shouldLog(refusals: inARow))
        }
    }

    /// Whether one more chat socket from `host` fits (checked before the upgrade; counted once it
    /// happens, by `webSocketOpened`).
    public func webSocketRefusal(from host: String) -> String? {
        if webSocketCount >= limits.maxWebSockets {
            return "the server is at its limit of \(limits.maxWebSockets) chat sockets; try again in a few seconds"
        }
        if !webSockets.withLock({ $0.admits(host) }) {
            return "\(limits.maxWebSocketsPerAddress) chat sockets from your address are already open; close one first"
        }
        return nil
    }

    func webSocketOpened(from host: String) {
        openWebSockets.add(1, ordering: .relaxed)
        _ = webSockets.withLock { $0.open(host) }
    }

    func webSocketClosed(from host: String) {
        openWebSockets.subtract(1, ordering: .relaxed)
        webSockets.withLock { $0.close(host) }
    }

    /// What per-address limits count by: the IPv4 address, or the IPv6 /64 (one subscriber's
    /// allocation, which a client can hop around in freely).
    public static func addressKey(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        if case .v6(let v6) = address {
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0.prefix(16)) }
            // IPv4-mapped addresses count as their IPv4 address.
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
                return bytes[12...].map(String.init).joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        }
        return address.ipAddress ?? "unknown"
    }

    /// A connection's guard that scans heads (plain HTTP), for ops/fuzz.
    package func headScanningHandler() -> any ChannelHandler { ConnectionGuardHandler(connectionGuard: self, scansHeads: true) }

    /// The answer a connection over a cap gets before it is closed.
    func refusalResponse(_ reason: String) -> ByteBuffer {
        let body = #"{"error":{"code":"too_many_connections","message":"\#(reason); try again in \#(limits.retryAfterSeconds) seconds"}}"#
        let head =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: \(limits.retryAfterSeconds)\r\n"
            + "Connection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        return ByteBuffer(string: head + body)
    }
}

/// First in every HTTP connection's pipeline: applies the connection caps, cuts request heads that
/// do not arrive whole within `headerTimeout` (slowloris) and connections idle for `idleTimeout`,
/// and counts chat sockets when a response upgrades. It sees raw bytes; with `scansHeads` off
/// (TLS, where the bytes are ciphertext) it applies the caps and the idle timeout only.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private enum Phase {
        /// Waiting for a request head to end (`\r\n\r\n`).
        case awaitingHead
        /// A request is in progress; `responding` once the answer started.
        case request(responding: Bool)
        /// Switched to WebSocket: the chat socket keeps its own liveness.
        case upgraded
    }

    private let connectionGuard: ConnectionGuard
    /// Off over HTTP/2, whose frames have no heads to scan (known once TLS picks `h2`).
    private var scansHeads: Bool
    /// Behind `NIOSSLServerHandler`: what it reads is plaintext, what it writes waits for the handshake.
    private let behindTLS: Bool
    private var host: String?
    private var entry: ConnectionRoster.Entry?
    private var phase = Phase.awaitingHead {
        didSet {
            // Between requests (or answering one, once quiet) it may be taken for another connection.
            guard scansHeads else { return }
            switch phase {
            case .awaitingHead, .request(responding: true): entry?.setClosable(true)
            case .request(responding: false), .upgraded: entry?.setClosable(false)
            }
        }
    }
    /// The last three bytes read while awaiting a head, so `\r\n\r\n` split across reads is found.
    private var tail: [UInt8] = []
    private var lastActivity = NIODeadline.now()
    private var headDeadline: Scheduled<Void>?
    private var idleCheck: Scheduled<Void>?

    /// This connection's idle timeout: between three quarters of the limit and the limit, so that
    /// thousands of connections opened together (a flood, a reconnect storm) do not all time out,
    /// and reconnect, in the same instant.
    private let idleAfter: TimeAmount

    init(connectionGuard: ConnectionGuard, scansHeads: Bool, behindTLS: Bool = false) {
        self.connectionGuard = connectionGuard
        self.scansHeads = scansHeads
        self.behindTLS = behindTLS
        idleAfter = Self.spread(connectionGuard.limits.idleTimeout, from: 0.75)
    }

    /// A time between `fraction` of `limit` and `limit`.
    static func spread(_ limit: Duration, from fraction: Double) -> TimeAmount {
        .nanoseconds(Int64(Double(TimeAmount(limit).nanoseconds) * Double.random(in: fraction...1)))
    }

    func channelActive(context: ChannelHandlerContext) {
        let host = ConnectionGuard.addressKey(context.remoteAddress)
        switch connectionGuard.admitConnection(from: host, channel: context.channel) {
        case .admitted(let entry):
            self.host = host
            self.entry = entry
            // Over TLS the requests cannot be seen (one may be waiting on a blocking reload): such a
            // connection is never taken for another, only closed by the idle timeout.
            entry.setClosable(scansHeads)
            if scansHeads { armHeadDeadline(context: context) }
            armIdleCheck(context: context, at: lastActivity + idleAfter)
            context.fireChannelActive()
        case .refused(let reason, let log):
            if log { connectionGuard.logger.warning("refusing HTTP connection: \(reason)", metadata: ["remote": "\(host)"]) }
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(connectionGuard.refusalResponse(reason)))).whenComplete { _ in
                context.close(promise: nil)
            }
            if behindTLS {
                // The answer waits for a handshake the client may never finish.
                let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: TimeAmount(connectionGuard.limits.headerTimeout)) { loopBound.value.close(promise: nil) }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if behindTLS, case .handshakeCompleted(negotiatedProtocol: "h2")? = event as? TLSUserEvent {
            // HTTP/2: many streams, no heads to scan; only the caps and the idle timeout apply.
            scansHeads = false
            headDeadline?.cancel()
            headDeadline = nil
            entry?.setClosable(false)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        headDeadline?.cancel()
        idleCheck?.cancel()
        if let host {
            if case .upgraded = phase { connectionGuard.webSocketClosed(from: host) }
            self.host = nil
        }
        if let entry {
            connectionGuard.roster.remove(entry)
            self.entry = nil
        }
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard host != nil else { return }  // refused: nothing it sends is served
        lastActivity = .now()
        entry?.touch(at: lastActivity)
        if scansHeads {
            let bytes = unwrapInboundIn(data)
            switch phase {
            case .request(responding: true):
                // The previous answer started: these bytes begin the next request's head.
                phase = .awaitingHead
                tail = []
                armHeadDeadline(context: context)
                if !scan(bytes, context: context) { return }
            case .awaitingHead:
                if !scan(bytes, context: context) { return }
            case .request(responding: false), .upgraded:
                break
            }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        entry?.touch(at: lastActivity)
        if scansHeads, case .request(responding: false) = phase {
            if case .byteBuffer(let buffer) = unwrapOutboundIn(data), buffer.readableBytesView.starts(with: Self.switchingProtocols) {
                phase = .upgraded
                idleCheck?.cancel()
                if let host { connectionGuard.webSocketOpened(from: host) }
            } else {
                phase = .request(responding: true)
            }
        }
        context.write(data, promise: promise)
    }

    private static let switchingProtocols = Array("HTTP/1.1 101".utf8)
    private static let headEnd: [UInt8] = [13, 10, 13, 10]

    /// Looks for the end of the head; false when the request was refused (a chat socket over its
    /// cap: answered 503 here, since a refusal in the upgrade handler reaches the client as a bare 400).
    private func scan(_ bytes: ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let view = bytes.readableBytesView
        let window = tail + view.prefix(3)
        var found = window.count >= 4 && (0...(window.count - 4)).contains { window[$0..<($0 + 4)].elementsEqual(Self.headEnd) }
        if !found, view.count >= 4 {
            var index = view.startIndex
            while let cr = view[index...].firstIndex(of: 13), cr + 3 < view.endIndex {
                if view[cr + 1] == 10, view[cr + 2] == 13, view[cr + 3] == 10 {
                    found = true
                    break
                }
                index = cr + 1
            }
        }
        guard found else {
            tail = Array((tail + view.suffix(3)).suffix(3))
            return true
        }
        phase = .request(responding: false)
        headDeadline?.cancel()
        headDeadline = nil
        tail = []
        if let host, Self.asksForWebSocket(view), let refusal = connectionGuard.webSocketRefusal(from: host) {
            connectionGuard.logger.debug("refusing chat socket: \(refusal)", metadata: ["remote": "\(host)"])
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(connectionGuard.refusalResponse(refusal)))).whenComplete { _ in
                context.close(promise: nil)
            }
            return false
        }
        return true
    }

    private static let websocketToken = Array("websocket".utf8)

    /// Whether a head (in one read) asks to upgrade to WebSocket.
    private static func asksForWebSocket(_ view: ByteBufferView) -> Bool {
        guard view.count >= websocketToken.count else { return false }
        let lowered = view.lazy.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }
        let bytes = Array(lowered)
        return bytes.indices.dropLast(websocketToken.count - 1).contains {
            bytes[$0..<($0 + websocketToken.count)].elementsEqual(websocketToken)
        }
    }

    private func armHeadDeadline(context: ChannelHandlerContext) {
        headDeadline?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        // Spread like the idle timeout: half the limit at the least.
        headDeadline = context.eventLoop.scheduleTask(in: Self.spread(connectionGuard.limits.headerTimeout, from: 0.5)) {
            let (handler, context) = loopBound.value
            guard case .awaitingHead = handler.phase else { return }
            handler.connectionGuard.logger.debug(
                "closing HTTP connection: no whole request head within \(handler.connectionGuard.limits.headerTimeout)",
                metadata: ["remote": "\(handler.host ?? "?")"])
            context.close(promise: nil)
        }
    }

    private func armIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleCheck = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            if case .upgraded = handler.phase { return }
            let due = handler.lastActivity + handler.idleAfter
            // A request waiting for its answer (a blocked playlist reload) is not idle.
            if case .request(responding: false) = handler.phase {
                handler.armIdleCheck(context: context, at: .now() + handler.idleAfter)
            } else if due <= .now() {
                context.close(promise: nil)
            } else {
                handler.armIdleCheck(context: context, at: due)
            }
        }
    }
}
