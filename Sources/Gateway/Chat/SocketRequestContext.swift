import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// The WebSocket router's context: like `BasicWebSocketRequestContext`, plus the connection's
/// channel, so a socket that cannot keep up can be cut off even when it reads nothing.
public struct SocketRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let webSocket: WebSocketHandlerReference<Self>
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.channel = source.channel
    }
}
