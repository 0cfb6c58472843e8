import Channels
import EventStore
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import HummingbirdWebSocket
import Ingest
import Logging
import NIOCore
import Packager
import Quality
import Transcode

/// The HTTP face of streamd: REST for admins, later playback and chat.
public struct Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let store: EventStore
    /// Where webhooks may be sent from this node (its own ports are refused).
    public let webhookTargets: WebhookTarget
    public let channels: ChannelService
    public let sessions: SessionRegistry?
    public let playback: Playback?
    public var chat: ChatEndpoint?
    /// `/metrics`, when the node has a metrics backend.
    public var metrics: MetricsEndpoint?
    /// `/admin`, `/watch/CHANNEL` and `/`, when the node runs the dashboard projection.
    public var console: ConsoleEndpoint?
    /// `/v1/audit/projections…`, when the node lists its read models.
    public var audit: AuditEndpoint?
    /// Connection caps and timeouts, shared by the HTTP and HTTPS servers.
    public let connectionGuard: ConnectionGuard
    /// Per-address rate limits of public routes that cost an event or a query.
    public let rateLimits: RequestRateLimits
    /// Viewer counts and player QoE (CMCD) of the live sessions played here.
    public let audience: Audience
    /// Wrong admin tokens per address, on every admin route and the console's sign-in.
    public let adminAuthFailures: AdminAuthFailures
    /// Whose tokens are admins'; without a node, only `configuration.adminToken`'s (as `admin`).
    public var admins: AdminDirectory

    /// What serves `/live` and `/vod`.
    public struct Playback: Sendable {
        public var directory: PlaybackDirectory
        public var recordings: RecordingCatalog
        /// `/live/CHANNEL/thumbnail.jpg`; nil: no such route.
        public var thumbnails: LiveThumbnails?
        /// The node's playback settings, for channels that have none of their own.
        public var defaults: PackagerOptions

        public init(
            directory: PlaybackDirectory, recordings: RecordingCatalog, thumbnails: LiveThumbnails? = nil,
            defaults: PackagerOptions = PackagerOptions()
        ) {
            self.directory = directory
            self.recordings = recordings
            self.thumbnails = thumbnails
            self.defaults = defaults
        }
    }

    public init(
        configuration: GatewayConfiguration, store: EventStore, channels: ChannelService, sessions: SessionRegistry? = nil,
        playback: Playback? = nil, audience: Audience = Audience()
    ) {
        self.configuration = configuration
        self.webhookTargets = WebhookTarget(
            ownPorts: Set([configuration.port] + (configuration.httpsPort.map { [$0] } ?? [])),
            allowInternal: configuration.webhooksAllowInternal)
        self.audience = audience
        self.store = store
        self.channels = channels
        self.sessions = sessions
        self.playback = playback
        self.connectionGuard = ConnectionGuard(limits: configuration.limits, logger: Logger(label: "streamd.http"))
        self.rateLimits = RequestRateLimits(limits: configuration.limits)
        self.admins = AdminDirectory(ownerToken: configuration.adminToken)
        let logger = Logger(label: "streamd.http")
        self.adminAuthFailures = AdminAuthFailures { event in
            logger.warning(
                "wrong admin tokens",
                metadata: ["remote": "\(event.remoteAddress)", "count": "\(event.count)", "locked_out": "\(event.lockoutSeconds != nil)"])
            do {
                _ = try await store.append(
                    event, to: "admin-auth", metadata: EventMetadata(actor: EventActor(.user, id: event.remoteAddress)),
                    durability: .spoolable)
            } catch {
                logger.error("could not record AdminAuthRejected: \(error)")
            }
        }
    }

    /// `overTLS`: the router of the HTTPS port; with `requireTLS`, the plain port's refuses admin
    /// credentials and admin routes (`TLSRequiredMiddleware`).
    public func router(overTLS: Bool = false) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: DeliveryMetricsMiddleware())
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ErrorMappingMiddleware())
        let refusesAdmin = configuration.requireTLS && !overTLS
        if refusesAdmin {
            router.add(middleware: TLSRequiredMiddleware(admins: admins, httpsPort: configuration.httpsPort))
        }
        router.get("healthz") { _, _ in JSONBody.response(["status": "ok"]) }
        if let metrics {
            MetricsRoute(endpoint: metrics, admins: admins, failures: adminAuthFailures).register(on: router)
        }
        let admin = router.group("v1").add(
            middleware: AdminAuthMiddleware(
                admins: admins, sessions: console?.sessions, failures: adminAuthFailures,
                tlsRequired: refusesAdmin ? TLSRequiredMiddleware.refusal(httpsPort: configuration.httpsPort) : nil))
        ChannelRoutes(channels: channels, configuration: configuration).register(on: admin)
        AdminRoutes(registry: AdminRegistry(store: store), directory: admins).register(on: admin)
        EventRoutes(store: store).register(on: admin)
        if let audit { AuditRoutes(store: store, endpoint: audit).register(on: admin) }
        SessionRoutes(history: SessionHistory(store: store)).register(on: admin)
        NodeRoutes(leases: ClusterLeases(store: store, nodeID: "")).register(on: admin)
        WebhookRoutes(registry: WebhookRegistry(store: store, targets: webhookTargets)).register(on: admin)
        QualityRoutes(channels: channels, quality: QualityReadModel(store: store)).register(on: admin)
        IngestAlertRoutes(channels: channels, alerts: IngestAlertReadModel(store: store)).register(on: admin)
        if let sessions {
            StreamRoutes(
                sessions: sessions, quality: QualityReadModel(store: store), alerts: IngestAlertReadModel(store: store), audience: audience,
                store: store
            ).register(on: admin)
        }
        SettingsRoutes(
            channels: channels, store: store, recordings: playback?.recordings, playbackDefaults: playback?.defaults ?? PackagerOptions()
        ).register(on: admin)
        if let playback {
            PlaybackRoutes(
                directory: playback.directory, recordings: playback.recordings, thumbnails: playback.thumbnails, rateLimits: rateLimits,
                audience: audience,
                proxy: LiveProxy(store: store, selfURL: configuration.nodeURL, redirects: configuration.clusterPlayback == .redirect)
            ).register(on: router)
            CMCDRoutes(audience: audience, directory: playback.directory, rateLimits: rateLimits).register(on: router.group("v1"))
        }
        if let chat {
            let routes = ChatRoutes(chat: chat, rateLimits: rateLimits, failures: adminAuthFailures)
            routes.register(on: router.group("v1"))
            routes.registerAdmin(on: admin)
        }
        if let console {
            ConsoleRoutes(console: console, admins: admins, failures: adminAuthFailures, rateLimits: rateLimits)
                .register(on: router)
            DashboardRoutes(console: console, quality: QualityReadModel(store: store)).register(on: admin)
            WatchRoutes(directory: playback?.directory).register(on: router)
        }
        return router
    }

    /// Routes that upgrade to WebSocket (the chat socket).
    public func webSocketRouter(overTLS: Bool = false) -> Router<SocketRequestContext> {
        let router = Router(context: SocketRequestContext.self)
        router.add(middleware: ErrorMappingMiddleware())
        if let chat {
            ChatSocket(
                chat: chat, connectionGuard: connectionGuard, refusesAdminToken: configuration.requireTLS && !overTLS,
                failures: adminAuthFailures
            ).register(on: router)
        }
        return router
    }

    /// HTTP/1.1 with keep-alive on the plain port, upgrading the chat socket to WebSocket.
    public func application(logger: Logger) -> some ApplicationProtocol {
        let webSocketResponder = webSocketRouter().buildResponder()
        let channelConfiguration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(additionalChannelHandlers: fastPathHandlers()),
            ws: .init(maxFrameSize: 1 << 16, closeTimeout: .seconds(5)))
        let connectionGuard = connectionGuard
        let directory = playback?.directory
        let audience = audience
        return Application(
            router: router(),
            server: HTTPServerBuilder { responder in
                GuardedChildChannel(
                    inner: HTTP1WebSocketUpgradeChannel(
                        responder: responder, webSocketResponder: webSocketResponder, configuration: channelConfiguration),
                    connectionGuard: connectionGuard, scansHeads: true,
                    front: { directory.map { [LiveMediaRawPath(directory: $0, audience: audience)] } ?? [] })
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "streamd"),
            logger: logger)
    }

    /// Live media answered on the event loop (see `LiveMediaFastPath`; its raw path is put in front by
    /// `GuardedChildChannel`); HTTP/1.1 only: over HTTP/2
    /// a connection's requests are already multiplexed streams and the router serves them.
    private func fastPathHandlers() -> [any RemovableChannelHandler] {
        guard let playback else { return [] }
        return [LiveMediaFastPath(directory: playback.directory, audience: audience)]
    }

    /// HTTPS on `port`: HTTP/2 by ALPN (browsers only do LL-HLS well over HTTP/2, where many blocked
    /// playlist and part requests share one connection), HTTP/1.1 with `wss://` chat otherwise; TLS
    /// 1.2 at the least, with the certificate current when each connection arrives.
    public func tlsApplication(certificates: TLSCertificates, port: Int, logger: Logger) -> some ApplicationProtocol {
        let webSocketResponder = webSocketRouter(overTLS: true).buildResponder()
        let http1Configuration = HTTP1WebSocketUpgradeChannel.Configuration(
            http1: .init(additionalChannelHandlers: fastPathHandlers()),
            ws: .init(maxFrameSize: 1 << 16, closeTimeout: .seconds(5)))
        let http2Configuration = HTTP2Channel.Configuration(idleTimeout: configuration.limits.idleTimeout)
        let connectionGuard = connectionGuard
        return Application(
            router: router(overTLS: true),
            server: HTTPServerBuilder { responder in
                SecureHTTPChannel(
                    certificates: certificates,
                    http1: HTTP1WebSocketUpgradeChannel(
                        responder: responder, webSocketResponder: webSocketResponder, configuration: http1Configuration),
                    http2: HTTP2Channel(responder: responder, configuration: http2Configuration),
                    connectionGuard: connectionGuard)
            },
            configuration: .init(address: .hostname(configuration.host, port: port), serverName: "streamd"),
            logger: logger)
    }
}
