import EventStore
import Foundation
import Hummingbird
import Ingest
import Logging
import Packager

/// The HTTP face of streamd: REST for admins, later playback and chat.
public struct Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let store: EventStore
    public let channels: ChannelService
    public let sessions: SessionRegistry?
    public let playback: Playback?

    /// What serves `/live` and `/vod`.
    public struct Playback: Sendable {
        public var directory: PlaybackDirectory
        public var recordings: RecordingCatalog

        public init(directory: PlaybackDirectory, recordings: RecordingCatalog) {
            self.directory = directory
            self.recordings = recordings
        }
    }

    public init(configuration: GatewayConfiguration, store: EventStore, channels: ChannelService, sessions: SessionRegistry? = nil, playback: Playback? = nil) {
        self.configuration = configuration
        self.store = store
        self.channels = channels
        self.sessions = sessions
        self.playback = playback
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: ErrorMappingMiddleware())
        router.get("healthz") { _, _ in JSONBody.response(["status": "ok"]) }
        let admin = router.group("v1").add(middleware: AdminAuthMiddleware(token: configuration.adminToken))
        ChannelRoutes(channels: channels, configuration: configuration).register(on: admin)
        EventRoutes(store: store).register(on: admin)
        if let sessions { StreamRoutes(sessions: sessions).register(on: admin) }
        SettingsRoutes(channels: channels, store: store, recordings: playback?.recordings).register(on: admin)
        if let playback { PlaybackRoutes(directory: playback.directory, recordings: playback.recordings).register(on: router) }
        return router
    }

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "streamd"),
            logger: logger)
    }
}
