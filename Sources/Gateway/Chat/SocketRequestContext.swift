import Hummingbird
import HummingbirdWebSocket
import NIOCore
import Synchronization

/// The WebSocket router's context: like `BasicWebSocketRequestContext`, plus the connection's
/// channel, so a socket that cannot keep up can be cut off even when it reads nothing.
///
/// Its `WebSocketHandlerReference` lives in a slot that is emptied when the channel closes.
/// hummingbird-websocket 2.8.1 (`RouterMethods.ws` in WebSocketRouter.swift) stores a copy of
/// this context inside the context's own reference box and never clears it: box -> handler value
/// -> context -> `webSocket` -> box. Held directly, that cycle kept every upgraded connection's
/// `SocketChannel` (through `channel`) alive for good; through the slot, it ends at close.
public struct SocketRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    private let slot: WebSocketSlot
    public var webSocket: WebSocketHandlerReference<Self> { slot.reference }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        let slot = WebSocketSlot()
        self.slot = slot
        source.channel.closeFuture.whenComplete { _ in slot.clear() }
    }
}

/// The upgrade's handler reference until the connection closes (see `SocketRequestContext`).
final class WebSocketSlot: Sendable {
    private let state = Mutex<WebSocketHandlerReference<SocketRequestContext>?>(.init())

    /// After the close, a fresh reference: an upgrade whose connection is gone finds no handler.
    var reference: WebSocketHandlerReference<SocketRequestContext> { state.withLock { $0 } ?? .init() }

    func clear() { state.withLock { $0 = nil } }
}
