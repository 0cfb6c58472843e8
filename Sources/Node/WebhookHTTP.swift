import Foundation
import Gateway
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Where one subscription's requests go, parsed once: the host and port are those
/// `WebhookTarget` judges.
struct WebhookEndpoint: Sendable {
    var tls: Bool
    var host: String
    var port: Int
    /// The request target: the path and query as given, `/` when empty.
    var target: String
    /// The `Host` header.
    var authority: String

    init(_ text: String) throws {
        let (host, port) = try WebhookTarget.destination(text)
        guard let components = URLComponents(string: text) else {
            throw WebhookHTTPError.invalid("\"\(text)\" is not an http:// or https:// URL with a host")
        }
        tls = components.scheme?.lowercased() == "https"
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = port
        let defaultPort = tls ? 443 : 80
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        target = components.percentEncodedQuery.map { path + "?" + $0 } ?? path
        let named = self.host.contains(":") ? "[\(self.host)]" : self.host
        authority = port == defaultPort ? named : "\(named):\(port)"
        // Requests go out without NIO's per-request header check, so what comes from the URL is
        // checked here: no spaces, controls or non-ASCII bytes in the request line or `Host`.
        guard (target + authority).utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw WebhookHTTPError.invalid("\"\(text)\" has characters a request line cannot carry; percent-encode them")
        }
    }
}

enum WebhookHTTPError: Error, CustomStringConvertible {
    case invalid(String)
    case timedOut(TimeAmount)
    /// The connection closed before an answer began: a reused one the receiver had closed meanwhile.
    case closedBeforeAnswer
    case closedDuringAnswer

    var description: String {
        switch self {
        case .invalid(let why): why
        case .timedOut(let limit): "no answer within \(limit.nanoseconds / 1_000_000) ms"
        case .closedBeforeAnswer: "the receiver closed the connection without answering"
        case .closedDuringAnswer: "the receiver closed the connection during its answer"
        }
    }
}

/// One request: written by `WebhookExchangeHandler`, which completes `answer` with the status.
struct WebhookExchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
    var timeout: TimeAmount
    var answer: EventLoopPromise<UInt>
}

/// Writes one request at a time on a keep-alive HTTP/1.1 connection and completes its promise with
/// the answer's status once the answer ended, dropping the body whatever its size. It closes the
/// connection after an answer that does not keep it alive, and when the exchange's time runs out
/// (looked at once a second while a request waits, rather than a timer set and cancelled per
/// request: so the limit is kept to within a second).
final class WebhookExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = WebhookExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var pending: (answer: EventLoopPromise<UInt>, deadline: NIODeadline, timeout: TimeAmount)?
    private var status: UInt?
    private var keepAlive = true
    private var ticker: Scheduled<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil else {
            exchange.answer.fail(WebhookHTTPError.invalid("a request is already in flight on this connection"))
            promise?.fail(ChannelError.inappropriateOperationForState)
            return
        }
        (pending, status, keepAlive) = ((exchange.answer, context.eventLoop.now + exchange.timeout, exchange.timeout), nil, true)
        if ticker == nil { tick(context) }
        context.write(wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // An interim answer (1xx) is followed by the real one.
            guard head.status.code >= 200 else { return }
            (status, keepAlive) = (head.status.code, head.isKeepAlive)
        case .body:
            break
        case .end:
            guard let status else { return }
            finish(.success(status))
            if !keepAlive { context.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(status == nil ? WebhookHTTPError.closedBeforeAnswer : WebhookHTTPError.closedDuringAnswer))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ticker?.cancel()
        ticker = nil
    }

    /// Fails the request once its time ran out; looks again a second later while one waits.
    private func tick(_ context: ChannelHandlerContext) {
        ticker = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [self] in
            ticker = nil
            guard let pending else { return }
            if context.eventLoop.now >= pending.deadline {
                finish(.failure(WebhookHTTPError.timedOut(pending.timeout)))
                context.close(promise: nil)
            } else {
                tick(context)
            }
        }
    }

    private func finish(_ result: Result<UInt, any Error>) {
        guard let pending else { return }
        self.pending = nil
        pending.answer.completeWith(result)
    }
}

/// Opens a connection to `endpoint` on `loop`: TCP, TLS for https (the system's roots, the
/// host's name checked), then the HTTP/1.1 client codec and `WebhookExchangeHandler`.
func connectWebhook(
    _ endpoint: WebhookEndpoint, on loop: any EventLoop, tls: NIOSSLContext?, timeout: TimeAmount
) async throws -> any Channel {
    try await ClientBootstrap(group: loop)
        .connectTimeout(timeout)
        .channelOption(.socketOption(.so_keepalive), value: 1)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let pipeline = channel.pipeline.syncOperations
                if let tls {
                    // SNI and the certificate's name check take a name, never an address.
                    let name = endpoint.host.contains(":") || endpoint.host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : endpoint.host
                    try pipeline.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: name))
                }
                // The head's bytes were checked once, when the endpoint was parsed.
                try pipeline.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                try pipeline.addHandler(WebhookExchangeHandler())
            }
        }
        .connect(host: endpoint.host, port: endpoint.port)
        .get()
}
