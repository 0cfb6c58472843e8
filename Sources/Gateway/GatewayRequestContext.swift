import EventStore
import Hummingbird
import NIOCore

/// The router's context: Hummingbird's basic one plus the peer's address, for per-address limits.
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?
    /// The admin the request authenticated as (`AdminAuthMiddleware`).
    public var adminName: String?
    /// Set by `RequestIDMiddleware` before anything else runs.
    public var requestID: ClientRequestID?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The key of per-address limits: the peer's IPv4 address or IPv6 /64 (`ConnectionGuard.addressKey`).
    public var remoteHost: String { ConnectionGuard.addressKey(remoteAddress) }

    /// The admin who sent the request, as an event's actor.
    public var adminActor: EventActor { adminName.map { EventActor.admin(named: $0) } ?? .admin }

    /// The metadata of an event this admin request causes: who, and the request's id and correlation.
    public func eventMetadata(reason: String? = nil) -> EventMetadata {
        EventMetadata(actor: adminActor, correlationId: requestID?.correlationId, requestId: requestID?.value, reason: reason)
    }
}
