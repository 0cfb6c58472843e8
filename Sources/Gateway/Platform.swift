import Chat
import EventStore
import Foundation
import Hummingbird
import Ingest
import Logging
import Packager
import Transcode

/// The running platform on one node: channels, RTMP ingest wired to the event log, and the HTTP
/// gateway over them. `streamd serve` runs one; tests run one against a throwaway database.
public final class Platform: Sendable {
    public let store: EventStore
    public let channels: ChannelService
    public let rtmp: RTMPServer
    /// SRT ingest; shares `rtmp.registry`, so `rtmp.sessions` carries both protocols' sessions.
    public let srt: SRTServer
    /// Stream keys in memory, followed from the log; SRT's listen callback checks them.
    public let keys: StreamKeyCache
    public let gateway: Gateway
    public let chat: ChatService
    public let rtmpPort: Int
    public let srtPort: Int
    public let pipeline: LivePipeline
    public let recordings: RecordingCatalog
    /// Steers live sessions' transcoders by their quality.
    public let quality: QualityController
    /// Runs every live session's transcode and packaging; ends when ingest has shut down and they
    /// have all finished.
    private let sessionLoop: Task<Void, Never>
    private let tasks: [Task<Void, Never>]

    /// Playback and recording settings of a node.
    public struct MediaOptions: Sendable {
        /// The origin store's folder (segments, parts, recordings).
        public var directory: URL
        public var defaults: LivePipeline.Defaults
        /// Finalized recordings older than this are deleted (nil: kept forever).
        public var recordingRetention: TimeInterval?

        public init(directory: URL, defaults: LivePipeline.Defaults = .init(), recordingRetention: TimeInterval? = 7 * 86_400) {
            self.directory = directory
            self.defaults = defaults
            self.recordingRetention = recordingRetention
        }
    }

    /// Starts ingest (binding `rtmpPort`; 0 picks a free one) and the log watchers. The HTTP
    /// application is `gateway.application(logger:)`, run by the caller's service group.
    public init(
        store: EventStore, configuration: GatewayConfiguration, ingest: IngestConfiguration = IngestConfiguration(),
        srt srtConfiguration: SRTConfiguration = SRTConfiguration(),
        media: MediaOptions, chat chatConfiguration: ChatConfiguration = ChatConfiguration(), logger: Logger
    ) async throws {
        self.store = store
        let channels = ChannelService(store: store)
        self.channels = channels
        let rtmp = RTMPServer(
            configuration: ingest, authorizer: ChannelKeyAuthorizer(channels: channels),
            eventSink: { stream, event, metadata in
                do {
                    _ = try await store.append(to: stream, expectedVersion: .any, events: [try NewEvent(event, metadata: metadata)])
                } catch {
                    logger.error("could not record \(type(of: event).eventType) for \(stream): \(error)")
                }
            },
            logger: logger)
        do {
            self.rtmpPort = try await rtmp.start(host: configuration.host, port: configuration.rtmpPort)
        } catch {
            await channels.shutdown()
            throw PlatformError("cannot listen for RTMP on \(configuration.host):\(configuration.rtmpPort) (\(error)); choose another --rtmp-port")
        }
        self.rtmp = rtmp
        // SRT decides keys in libsrt's listen callback, from this in-memory table of the log.
        let keys = StreamKeyCache(store: store, logger: logger)
        let keyFollower = Task { await keys.run() }
        guard await keys.waitUntilLoaded(timeout: .seconds(60)) else {
            keyFollower.cancel()
            await rtmp.shutdown()
            await channels.shutdown()
            throw PlatformError("cannot read the stream keys from the event log within 60 s; check that PostgreSQL is reachable and retry")
        }
        self.keys = keys
        let srt = SRTServer(configuration: srtConfiguration, sharingSessionsWith: rtmp, keys: keys, logger: logger)
        do {
            self.srtPort = try srt.start(host: configuration.host, port: configuration.srtPort)
        } catch {
            keyFollower.cancel()
            await rtmp.shutdown()
            await channels.shutdown()
            throw PlatformError("\(error)")
        }
        self.srt = srt
        let origin = OriginStore(root: media.directory)
        let pipeline = LivePipeline(store: store, origin: origin, directory: PlaybackDirectory(), defaults: media.defaults, logger: logger)
        self.pipeline = pipeline
        let recordings = RecordingCatalog(store: store, origin: origin)
        self.recordings = recordings
        var shown = configuration
        shown.rtmpPort = rtmpPort
        shown.srtPort = srtPort
        var gateway = Gateway(
            configuration: shown, store: store, channels: channels, sessions: rtmp.registry,
            playback: .init(directory: pipeline.directory, recordings: recordings))
        let chat = ChatService(store: store, channels: channels)
        await chat.start()
        self.chat = chat
        gateway.chat = ChatEndpoint(service: chat, configuration: chatConfiguration, adminToken: configuration.adminToken)
        self.gateway = gateway
        let quality = QualityController(store: store)
        self.quality = quality
        let qualityProjection = ProjectionRunner(store: store, sql: QualityProjection.live(store))
        sessionLoop = Task {
            await withDiscardingTaskGroup { group in
                for await session in rtmp.sessions {
                    group.addTask { await pipeline.run(session, quality: quality) }
                }
            }
        }
        self.tasks = [
            keyFollower,
            // The quality machine of every live session, and its effect on the transcoders.
            Task { await qualityProjection.run() },
            Task { await quality.run() },
            // Recordings a stopped node left open, and recordings past retention.
            Task {
                while !Task.isCancelled {
                    await Self.maintainRecordings(recordings, pipeline: pipeline, store: store, retention: media.recordingRetention, logger: logger)
                    try? await Task.sleep(for: .seconds(10))
                }
            },
            // A revoked key ends its live session, whichever node or CLI revoked it.
            Task {
                let head = (try? await store.headPosition()) ?? 0
                for await event in store.subscribe(after: head, filter: EventFilter(types: [StreamKeyRevoked.eventType])) {
                    guard let revoked = try? store.registry.decode(event, as: StreamKeyRevoked.self) else { continue }
                    _ = await rtmp.registry.kick(
                        channelID: revoked.channelId.uuidString.lowercased(), by: event.metadata.actor, reason: "stream key revoked")
                }
            },
        ]
    }

    /// Ends live sessions (each with `StreamEnded`), lets their recordings finalize, then stops the
    /// watchers and projections.
    public func shutdown() async {
        await srt.shutdown()
        await rtmp.shutdown()
        // The session loop ends once every session's transcode and packaging has finished.
        await sessionLoop.value
        for task in tasks { task.cancel() }
        // No watcher may still be reading when the caller shuts the store down next.
        for task in tasks { await task.value }
        await recordings.shutdown()
        await chat.shutdown()
        await channels.shutdown()
    }

    /// Finalizes recordings that no node has added to for a while (their node stopped mid-stream:
    /// they end with what reached disk, and their session gets its `StreamEnded(interrupted)`), and
    /// deletes recordings past retention.
    static func maintainRecordings(
        _ recordings: RecordingCatalog, pipeline: LivePipeline, store: EventStore, retention: TimeInterval?, logger: Logger
    ) async {
        do {
            let live = Set(pipeline.sessions.map { $0.session.id.uuidString.lowercased() })
            for recording in try await recordings.interrupted(quietFor: 15, excluding: live) {
                let ended = StreamEnded(
                    sessionID: recording.sessionID, channelID: recording.channelID, reason: .interrupted,
                    detail: "the node packaging it stopped without ending it; finalized with the segments that reached disk",
                    durationSeconds: 0, bytesReceived: 0, reconnects: 0)
                let stream = "session-\(recording.sessionID)"
                let history = try await store.readStream(stream)
                if !history.contains(where: { $0.eventType == StreamEnded.eventType }) {
                    _ = try await store.append(
                        to: stream, expectedVersion: .any,
                        events: [try NewEvent(ended, metadata: EventMetadata(actor: .system("packager")), eventId: RecordingCatalog.derivedID("ended", recording.sessionID))])
                }
                try await recordings.finalizeInterrupted(recording)
                logger.info("finalized the interrupted recording of session \(recording.sessionID) (\(recording.channelName))")
            }
            if let retention {
                let deleted = try await recordings.deleteExpired(retention: retention)
                if deleted > 0 { logger.info("deleted \(deleted) recordings past retention") }
            }
        } catch {
            logger.warning("recording maintenance failed, retrying in a minute: \(error)")
        }
    }
}

extension EventRegistry {
    /// Every event type this build knows.
    public static var platform: EventRegistry {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        registry.registerIngestEvents()
        registry.registerTranscodeEvents()
        registry.registerPackagerEvents()
        registry.registerQualityEvents()
        registry.registerChatEvents()
        return registry
    }
}

public struct PlatformError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
