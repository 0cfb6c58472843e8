import EventStore
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Ingest
import Logging

/// The HTTP face of streamd: REST for admins, later playback and chat.
public struct Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let store: EventStore
    public let channels: ChannelService
    public let sessions: SessionRegistry?
    public var chat: ChatEndpoint?

    public init(configuration: GatewayConfiguration, store: EventStore, channels: ChannelService, sessions: SessionRegistry? = nil) {
        self.configuration = configuration
        self.store = store
        self.channels = channels
        self.sessions = sessions
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMappingMiddleware())
        router.get("healthz") { _, _ in JSONBody.response(["status": "ok"]) }
        let admin = router.group("v1").add(middleware: AdminAuthMiddleware(token: configuration.adminToken))
        ChannelRoutes(channels: channels, configuration: configuration).register(on: admin)
        EventRoutes(store: store).register(on: admin)
        if let sessions { StreamRoutes(sessions: sessions).register(on: admin) }
        if let chat { ChatRoutes(chat: chat).register(on: router.group("v1")) }
        return router
    }

    /// Routes that upgrade to WebSocket (the chat socket).
    public func webSocketRouter() -> Router<SocketRequestContext> {
        let router = Router(context: SocketRequestContext.self)
        router.add(middleware: ErrorMappingMiddleware())
        if let chat { ChatSocket(chat: chat).register(on: router) }
        return router
    }

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: router(),
            server: .http1WebSocketUpgrade(
                webSocketRouter: webSocketRouter(),
                configuration: .init(ws: .init(maxFrameSize: 1 << 16, closeTimeout: .seconds(5)))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "streamd"),
            logger: logger)
    }
}
