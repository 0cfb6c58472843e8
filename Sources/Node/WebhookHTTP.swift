import Foundation
import Gateway
import NIOCore
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
    /// Every request's first lines, the same for each.
    private var head: String

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
        // Requests are written byte for byte, so what comes from the URL is checked here: no
        // spaces, controls or non-ASCII bytes in the request line or `Host`.
        guard (target + authority).utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw WebhookHTTPError.invalid("\"\(text)\" has characters a request line cannot carry; percent-encode them")
        }
        head = "POST \(target) HTTP/1.1\r\nHost: \(authority)\r\nContent-Type: application/json\r\nUser-Agent: streamd\r\n"
    }

    /// A signed delivery's request, head and body in one buffer. `id` and `signature` are the
    /// worker's own (`evt_N`, base64), never a receiver's bytes.
    func request(id: String, timestamp: Int64, signature: String, body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(head.utf8.count + 160 + body.count)
        buffer.writeString(head)
        buffer.writeString("Content-Length: \(body.count)\r\nwebhook-id: \(id)\r\nwebhook-timestamp: \(timestamp)\r\n")
        buffer.writeString("webhook-signature: \(signature)\r\n\r\n")
        buffer.writeBytes(body)
        return buffer
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

/// One request, its head and body already in one buffer: written by `WebhookExchangeHandler`,
/// which completes `answer` with the status.
struct WebhookExchange: Sendable {
    var request: ByteBuffer
    var timeout: TimeAmount
    var answer: EventLoopPromise<UInt>
}

/// Writes one request at a time on a keep-alive HTTP/1.1 connection and completes its promise with
/// the answer's status once the answer ended (`WebhookResponseParser`: the body dropped whatever
/// its size). It closes the connection after an answer that does not keep it alive, after an
/// answer nobody asked for or a malformed one, and when the exchange's time runs out (looked at
/// once a second while a request waits, rather than a timer set and cancelled per request: so the
/// limit is kept to within a second). Requests are written as the worker built them, whole: NIO's
/// HTTP codec cost most of a delivery (docs/benchmarks.md#opsbenchwebhooks).
final class WebhookExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = WebhookExchange
    typealias OutboundOut = ByteBuffer

    private var pending: (answer: EventLoopPromise<UInt>, deadline: NIODeadline, timeout: TimeAmount)?
    private var parser = WebhookResponseParser()
    private var ticker: Scheduled<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = unwrapOutboundIn(data)
        guard pending == nil else {
            exchange.answer.fail(WebhookHTTPError.invalid("a request is already in flight on this connection"))
            promise?.fail(ChannelError.inappropriateOperationForState)
            return
        }
        pending = (exchange.answer, context.eventLoop.now + exchange.timeout, exchange.timeout)
        if ticker == nil { tick(context) }
        context.writeAndFlush(wrapOutboundOut(exchange.request), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        let reading = parser.feed(&bytes)
        for answer in reading.answers {
            guard pending != nil else {
                context.close(promise: nil)
                return
            }
            finish(.success(answer.status))
            if !answer.keepAlive {
                context.close(promise: nil)
                return
            }
        }
        if let malformed = reading.malformed {
            finish(.failure(malformed))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let answer = parser.connectionClosed() {
            finish(.success(answer.status))
        } else {
            finish(.failure(parser.isMidAnswer ? WebhookHTTPError.closedDuringAnswer : WebhookHTTPError.closedBeforeAnswer))
        }
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
/// host's name checked), then `WebhookExchangeHandler`.
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
                try pipeline.addHandler(WebhookExchangeHandler())
            }
        }
        .connect(host: endpoint.host, port: endpoint.port)
        .get()
}
