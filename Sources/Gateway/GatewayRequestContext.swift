import Hummingbird
import NIOCore

/// The router's context: Hummingbird's basic one plus the peer's address, for per-address limits.
public struct GatewayRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// The key of per-address limits: the peer's IPv4 address or IPv6 /64 (`ConnectionGuard.addressKey`).
    public var remoteHost: String { ConnectionGuard.addressKey(remoteAddress) }
}
