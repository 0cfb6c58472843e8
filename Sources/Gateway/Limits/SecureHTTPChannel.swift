import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdWebSocket
import Ingest
import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// The HTTPS port: TLS with the node's current certificate, then HTTP/2 when ALPN picks `h2`, or
/// HTTP/1.1 with the chat socket's WebSocket upgrade otherwise. Browsers open `wss://` on its own
/// HTTP/1.1 connection unless the server offers RFC 8441's extended CONNECT, which this does not.
///
/// Hummingbird's `HTTP2UpgradeChannel` does the same ALPN split but has no WebSocket upgrade on its
/// HTTP/1.1 side and fixes its TLS context when built; this takes `certificates.httpsContext` per
/// connection, so a reload (SIGHUP) reaches new connections only.
struct SecureHTTPChannel: ServerChildChannel {
    enum Negotiated: Sendable {
        case http1(HTTP1WebSocketUpgradeChannel.Value)
        case http2(HTTP2Channel.Value)
    }

    /// Set up before the handshake: the protocol is known only once the client's first bytes are read.
    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    let certificates: TLSCertificates
    let http1: HTTP1WebSocketUpgradeChannel
    let http2: HTTP2Channel
    let connectionGuard: ConnectionGuard

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let negotiation = NIOTypedApplicationProtocolNegotiationHandler<Negotiated> { result in
                switch result {
                case .negotiated("h2"):
                    http2.setup(channel: channel, logger: logger).map { .http2($0) }
                default:
                    http1.setup(channel: channel, logger: logger).map { .http1($0) }
                }
            }
            // The guard sits behind TLS so it reads requests, not ciphertext: the head timeout
            // covers a handshake that never ends, and chat sockets over TLS count against the caps.
            try channel.pipeline.syncOperations.addHandlers([
                NIOSSLServerHandler(context: certificates.httpsContext),
                ConnectionGuardHandler(connectionGuard: connectionGuard, scansHeads: true, behindTLS: true),
                negotiation,
            ])
            return Value(negotiated: negotiation.protocolNegotiationResult, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http1(let value): await http1.handle(value: value, logger: logger)
            case .http2(let value): await http2.handle(value: value, logger: logger)
            }
        } catch {
            // A failed handshake or a client gone before it: nothing was served.
            logger.debug("TLS connection ended before HTTP: \(error)")
        }
    }
}
