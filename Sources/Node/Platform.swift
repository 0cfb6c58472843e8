import Channels
import Chat
import EventStore
import Foundation
import Gateway
import Ingest
import Logging
import Packager
import Quality
import ServiceLifecycle
import Synchronization
import Transcode

/// One node of the platform: channels, RTMP and SRT ingest wired to the event log, the live
/// pipeline, chat, quality and the HTTP gateway over them. `streamd serve` runs one; tests run one
/// against a throwaway database.
///
/// `init` builds every part and binds the ingest listeners (so a port in use fails at once, with
/// what to do); nothing runs until `services` run in one `ServiceGroup`, which `streamd serve`
/// does with the HTTP servers and the database, or `start()` does alone.
public final class Platform: Sendable {
    public let store: EventStore
    public let channels: ChannelService
    public let rtmp: RTMPServer
    /// SRT ingest; shares `rtmp.registry`, so `rtmp.sessions` carries both protocols' sessions.
    public let srt: SRTServer
    /// Stream keys in memory, followed from the log; SRT's listen callback checks them.
    public let keys: StreamKeyCache
    public let gateway: Gateway
    /// The admins whose tokens this node accepts, followed from the log.
    public let admins: AdminDirectory
    public let chat: ChatService
    public let rtmpPort: Int
    /// Bound when the node has a certificate and `configuration.rtmpsPort`.
    public let rtmpsPort: Int?
    public let srtPort: Int
    public let pipeline: LivePipeline
    public let recordings: RecordingCatalog
    /// Steers live sessions' transcoders by their quality.
    public let quality: QualityController
    let qualityProjection: ProjectionRunner
    /// Judges live sessions' incoming streams by their channels' ingest alert rules.
    let ingestAlerts: ProjectionRunner
    /// The console's read model (`dashboard`).
    public let dashboard: ProjectionRunner
    let media: MediaOptions
    let logger: Logger
    /// The group `start()` runs, and the task running it.
    private let standalone = Mutex<(group: ServiceGroup, task: Task<Void, Never>)?>(nil)

    /// Playback and recording settings of a node.
    public struct MediaOptions: Sendable {
        /// The origin store's folder (segments, parts, recordings).
        public var directory: URL
        public var defaults: LivePipeline.Defaults
        /// Finalized recordings older than this are deleted (nil: kept forever).
        public var recordingRetention: TimeInterval?
        /// Each channel's last thumbnail (`CHANNEL.jpg`), served while it is offline.
        public var thumbnails: URL
        /// Played while a session's encoders are all away (nil: players wait without one).
        public var slate: StandbySlates?

        /// `thumbnails` defaults to a folder in `directory`.
        public init(
            directory: URL, defaults: LivePipeline.Defaults = .init(), recordingRetention: TimeInterval? = 7 * 86_400,
            thumbnails: URL? = nil
        ) {
            self.directory = directory
            self.defaults = defaults
            self.recordingRetention = recordingRetention
            self.thumbnails = thumbnails ?? directory.appendingPathComponent("thumbnails")
        }
    }

    /// Builds the node's parts, binds RTMP (`rtmpPort`; 0 picks a free one) and SRT, and reads
    /// the stream keys. The HTTP application is `gateway.application(logger:)`.
    public init(
        store: EventStore, configuration: GatewayConfiguration, ingest: IngestConfiguration = IngestConfiguration(),
        srt srtConfiguration: SRTConfiguration = SRTConfiguration(),
        media: MediaOptions, chat chatConfiguration: ChatConfiguration = ChatConfiguration(), metrics: NodeMetrics? = nil,
        tls: TLSCertificates? = nil, logger: Logger
    ) async throws {
        self.store = store
        self.media = media
        self.logger = logger
        let channels = ChannelService(store: store)
        self.channels = channels
        let rtmp = RTMPServer(
            configuration: ingest, authorizer: ChannelKeyAuthorizer(channels: channels),
            eventSink: { stream, event, metadata in
                do {
                    _ = try await store.append(
                        to: stream, expectedVersion: .any, events: [try NewEvent(event, metadata: metadata)], durability: .spoolable)
                } catch {
                    logger.error("could not record \(type(of: event).eventType) for \(stream): \(error)")
                }
            },
            logger: logger)
        do {
            self.rtmpPort = try await rtmp.start(host: configuration.host, port: configuration.rtmpPort)
        } catch {
            throw PlatformError(
                "cannot listen for RTMP on \(configuration.host):\(configuration.rtmpPort) (\(error)); choose another --rtmp-port")
        }
        if let tls, let port = configuration.rtmpsPort {
            do {
                self.rtmpsPort = try await rtmp.start(host: configuration.host, port: port, tls: tls)
            } catch {
                await rtmp.shutdown()
                throw PlatformError("cannot listen for RTMPS on \(configuration.host):\(port) (\(error)); choose another --rtmps-port")
            }
        } else {
            self.rtmpsPort = nil
        }
        self.rtmp = rtmp
        // SRT decides keys in libsrt's listen callback, from this in-memory table of the log.
        let keys = StreamKeyCache(store: store, logger: logger)
        let loaded = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await keys.load()
                return keys.isLoaded
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard loaded else {
            await rtmp.shutdown()
            throw PlatformError("cannot read the stream keys from the event log within 60 s; check that PostgreSQL is reachable and retry")
        }
        self.keys = keys
        let admins = AdminDirectory()
        do {
            try await Self.recordOwner(token: configuration.adminToken, store: store, logger: logger)
            try await admins.load(from: store)
        } catch {
            await rtmp.shutdown()
            throw PlatformError("cannot read the admins from the event log (\(error)); check that PostgreSQL is reachable and retry")
        }
        self.admins = admins
        let srt = SRTServer(configuration: srtConfiguration, sharingSessionsWith: rtmp, keys: keys, logger: logger)
        do {
            self.srtPort = try srt.start(host: configuration.host, port: configuration.srtPort)
        } catch {
            await rtmp.shutdown()
            throw PlatformError("\(error)")
        }
        self.srt = srt
        if let slate = media.slate { await rtmp.registry.use(slate: slate) }
        let origin = OriginStore(root: media.directory)
        let thumbnails = LiveThumbnails(options: .init(directory: media.thumbnails), logger: logger)
        let pipeline = LivePipeline(
            store: store, origin: origin, directory: PlaybackDirectory(), thumbnails: thumbnails, defaults: media.defaults, logger: logger)
        self.pipeline = pipeline
        self.recordings = RecordingCatalog(store: store, origin: origin)
        var shown = configuration
        shown.rtmpPort = rtmpPort
        shown.rtmpsPort = rtmpsPort
        shown.srtPort = srtPort
        var gateway = Gateway(
            configuration: shown, store: store, channels: channels, sessions: rtmp.registry,
            playback: .init(
                directory: pipeline.directory, recordings: recordings, thumbnails: thumbnails, defaults: media.defaults.packager))
        gateway.admins = admins
        let chat = ChatService(store: store, channels: channels)
        self.chat = chat
        let qualityProjection = ProjectionRunner(store: store, sql: QualityProjection.live(store))
        let ingestAlerts = ProjectionRunner(store: store, sql: IngestAlertProjection.live(store))
        let dashboard = ProjectionRunner(store: store, sql: DashboardProjection())
        let console = ConsoleEndpoint(store: store, dashboard: dashboard)
        gateway.console = console
        var chatEndpoint = ChatEndpoint(service: chat, configuration: chatConfiguration, adminToken: configuration.adminToken)
        chatEndpoint.consoleSessions = console.sessions
        chatEndpoint.admins = admins
        gateway.chat = chatEndpoint
        if let metrics {
            let sources = NodeMetrics.Sources(
                sessions: rtmp.registry, store: store,
                runners: [channels.runner, chat.runner, qualityProjection, ingestAlerts, recordings.runner, dashboard],
                audience: gateway.audience,
                connections: gateway.connectionGuard, directory: pipeline.directory, quality: QualityReadModel(store: store))
            gateway.metrics = MetricsEndpoint(token: configuration.metricsToken) { await metrics.exposition(of: sources) }
        }
        gateway.audit = AuditEndpoint(
            sql: Projections.all,
            memory: [
                .init(model: ChatRoomsAudit.model) { try await chat.auditValue() },
                .init(model: PlaybackDirectoryAudit.model) { [directory = pipeline.directory] in
                    try await PlaybackDirectoryAudit.live(directory, store: store)
                },
            ])
        self.gateway = gateway
        self.quality = QualityController(store: store)
        self.qualityProjection = qualityProjection
        self.ingestAlerts = ingestAlerts
        self.dashboard = dashboard
    }

    /// The node's parts in start order; a graceful shutdown stops them in reverse: ingest stops
    /// accepting and ends its sessions, the pipeline finishes their segments and recordings, then
    /// the log's followers and read models stop. Whoever runs them puts the HTTP servers after
    /// these (they stop first) and the database before (it closes last).
    public var services: [any Service] {
        let (store, channels, keys, chat, quality, qualityProjection) = (store, channels, keys, chat, quality, qualityProjection)
        let (recordings, pipeline, rtmp, srt, media, logger) = (recordings, pipeline, rtmp, srt, media, logger)
        let (dashboard, ingestAlerts) = (self.dashboard, self.ingestAlerts)
        let audience = gateway.audience
        let admins = self.admins
        return [
            // A revoked admin's token is refused here as soon as the revocation reaches the log.
            NodeService("admin directory", logger: logger, .cancel { await admins.follow(store, logger: logger) }),
            NodeService("channels read model", logger: logger, .cancel { await channels.run() }),
            NodeService("stream key table", logger: logger, .cancel { await keys.follow() }),
            NodeService("chat", logger: logger, .cancel { await chat.run() }),
            NodeService("quality read model", logger: logger, .cancel { await qualityProjection.run() }),
            // The quality machine of every live session, and its effect on the transcoders.
            NodeService("quality controller", logger: logger, .cancel { await quality.run() }),
            // Rules on each live session's incoming stream; appends IngestAlertRaised and IngestAlertCleared.
            NodeService("ingest alerts", logger: logger, .cancel { await ingestAlerts.run() }),
            NodeService("DVR index", logger: logger, .cancel { await recordings.run() }),
            // Many small events (samples, chat posts) share one transaction per 200 ms.
            NodeService("dashboard read model", logger: logger, .cancel { await dashboard.run(batchInterval: .milliseconds(200)) }),
            NodeService(
                "audience sampler", logger: logger,
                .cancel { await AudienceSampler(store: store, pipeline: pipeline, audience: audience, logger: logger).run() }),
            NodeService(
                "recording maintenance", logger: logger,
                .cancel {
                    await RecordingMaintenance(
                        recordings: recordings, pipeline: pipeline, store: store, retention: media.recordingRetention, logger: logger
                    ).run()
                }),
            // A revoked key ends its live session, whichever node or CLI revoked it.
            NodeService(
                "key revocation watcher", logger: logger,
                .cancel {
                    await RevocationWatcher(store: store, sessions: rtmp.registry).run()
                }),
            NodeService(
                "live pipeline", logger: logger,
                .drain {
                    await withDiscardingTaskGroup { group in
                        for await session in rtmp.sessions {
                            group.addTask { await pipeline.run(session, quality: quality) }
                        }
                    }
                }),
            NodeService("RTMP ingest", logger: logger, .call { await rtmp.shutdown() }),
            NodeService("SRT ingest", logger: logger, .call { await srt.shutdown() }),
        ]
    }

    /// The first-start token (DATA_DIR/admin-token, `--admin-token`) is the admin `admin`'s
    /// (`AdminRegistry.ensureOwner`); a node starting beside another may lose the race to record it.
    static func recordOwner(token: String, store: EventStore, logger: Logger) async throws {
        let metadata = EventMetadata(actor: .system("serve"), reason: "the node's first-start admin token")
        for attempt in 1...3 {
            do {
                if try await AdminRegistry(store: store).ensureOwner(token: token, metadata: metadata) == .revoked {
                    logger.warning(
                        "the first-start admin token (DATA_DIR/admin-token or --admin-token) belongs to the revoked admin `admin` and is refused; use another admin's token, or add one with `streamd admins add NAME`"
                    )
                }
                return
            } catch EventStoreError.wrongExpectedVersion where attempt < 3 {
                continue
            }
        }
    }

    /// The service group of `services` alone; `configure` adds to or changes its configuration.
    public static func group(
        _ services: [any Service], logger: Logger, configure: (inout ServiceGroupConfiguration) -> Void = { _ in }
    ) -> ServiceGroup {
        var configuration = ServiceGroupConfiguration(
            services: services.map {
                // A part that fails stops the others in order, as a signal would.
                .init(
                    service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
            },
            logger: logger)
        configuration.maximumGracefulShutdownDuration = .seconds(9)
        configure(&configuration)
        return ServiceGroup(configuration: configuration)
    }

    /// Runs `services` in a group of their own until `shutdown()` (tests and embedders; `streamd
    /// serve` runs them in its own group instead).
    public func start() {
        standalone.withLock { running in
            guard running == nil else { return }
            let group = Self.group(services, logger: logger)
            let logger = self.logger
            running = (
                group,
                Task {
                    do { try await group.run() } catch { logger.error("the node stopped on an error: \(error)") }
                }
            )
        }
    }

    /// Ends live sessions (each with `StreamEnded`), lets their recordings finalize, then stops the
    /// log's followers and read models, in the order of `services`.
    public func shutdown() async {
        guard let running = standalone.withLock({ $0 }) else { return }
        await running.group.triggerGracefulShutdown()
        await running.task.value
    }
}
