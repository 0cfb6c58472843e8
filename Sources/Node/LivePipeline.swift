import EventStore
import Foundation
import Ingest
import Logging
import Media
import Packager
import Quality
import Synchronization
import Transcode

/// The media path of one node: every live session's packets are transcoded into the channel's
/// ladder and packaged for LL-HLS; the control path (ladder, playback settings, rendition and
/// segment facts) goes through the log.
public final class LivePipeline: Sendable {
    public struct Defaults: Sendable {
        public var packager: PackagerOptions
        public var ladder: Ladder
        public var transcode: TranscodeOptions

        public init(
            packager: PackagerOptions = PackagerOptions(), ladder: Ladder = .default, transcode: TranscodeOptions = TranscodeOptions()
        ) {
            self.packager = packager
            self.ladder = ladder
            self.transcode = transcode
        }
    }

    /// What runs for one live session; the quality controller drives `transcoder`.
    public struct Running: Sendable {
        public var session: LiveSession
        public var transcoder: Transcoder
        public var packager: StreamPackager
    }

    let store: EventStore
    let origin: OriginStore
    public let directory: PlaybackDirectory
    let defaults: Defaults
    /// Keeps each session's latest source keyframe for `/live/CHANNEL/thumbnail.jpg`.
    public let thumbnails: LiveThumbnails?
    let logger: Logger
    private let running = Mutex<[UUID: Running]>([:])

    public init(
        store: EventStore, origin: OriginStore, directory: PlaybackDirectory, thumbnails: LiveThumbnails? = nil, defaults: Defaults,
        logger: Logger
    ) {
        self.store = store
        self.origin = origin
        self.directory = directory
        self.thumbnails = thumbnails
        self.defaults = defaults
        self.logger = logger
    }

    public func session(_ id: UUID) -> Running? { running.withLock { $0[id] } }
    public var sessions: [Running] { running.withLock { Array($0.values) } }

    /// Transcodes and packages `session` until its media ends, then finalizes its recording.
    /// `quality` steers the transcoder's rungs by the session's quality state from its first
    /// rendition on.
    public func run(_ session: LiveSession, quality: QualityController? = nil) async {
        let settings = await channelSettings(session.channelName)
        let identity = SessionIdentity(
            sessionID: session.id.uuidString.lowercased(), channelID: session.channelID, channelName: session.channelName)
        let store = self.store
        let logger = self.logger
        let stream = session.streamID
        let causes = QualityCauses()
        let append: @Sendable (any DomainEvent) async -> Void = { event in
            // A rendition the quality controller turned on or off follows from its QualityChanged.
            let metadata =
                causes.cause(of: event).map { EventMetadata.caused(by: $0, actor: .system("pipeline")) }
                ?? EventMetadata(actor: .system("pipeline"))
            do {
                _ = try await store.append(
                    to: stream, expectedVersion: .any, events: [try NewEvent(event, metadata: metadata)], durability: .spoolable)
            } catch {
                logger.error("could not record \(type(of: event).eventType) for \(stream): \(error)")
            }
        }
        let ladder = settings.ladder
        let longestGOP = Double(
            ladder.allowsPassthrough ? max(ladder.maxPassthroughKeyframeInterval, ladder.keyframeInterval) : ladder.keyframeInterval)
        let packager = StreamPackager(
            identity: identity, origin: origin, options: settings.packager, longestKeyframeInterval: longestGOP,
            logger: logger, events: append)
        let transcoder = Transcoder(channel: session.channelName, ladder: ladder, options: defaults.transcode) { [weak packager] event in
            if let started = event as? RenditionStarted { packager?.setActive(true, rendition: started.rendition) }
            if let stopped = event as? RenditionStopped { packager?.setActive(false, rendition: stopped.rendition) }
            await append(event)
        }
        packager.expectVideo { [weak transcoder] in
            // A source without video (audio only) plans no video rendition.
            guard session.tracks.contains(where: { $0.kind == .video }) else { return [] }
            return transcoder?.plannedVideoRenditions.map(Set.init)
        }
        running.withLock { $0[session.id] = Running(session: session, transcoder: transcoder, packager: packager) }
        directory.register(packager)
        logger.info("packaging \(session.channelName) (session \(identity.sessionID)) for /live/\(session.channelName)/index.m3u8")
        let sessionID = identity.sessionID
        let thumbnailTap = thumbnails?.tap(channel: session.channelName)
        await withDiscardingTaskGroup { group in
            // The session's events reach the log in order, until `finish()` below ends them.
            group.addTask { await packager.publishEvents() }
            async let announced: Void = {
                var attached = false
                for await rendition in transcoder.renditions {
                    packager.add(rendition: rendition.name, kind: rendition.kind, bitrate: rendition.bitrate, items: rendition.items)
                    if !attached, let quality {
                        // By the first rendition the source's picture size is known; the policy needs it
                        // to place a passthrough rendition among the rungs.
                        attached = true
                        let height = session.tracks.first { $0.kind == .video }?.height
                        await quality.attach(
                            sessionID: sessionID, control: causes.control(transcoder),
                            policy: QualityLadderPolicy(ladder: ladder, sourceHeight: height), onError: { session.qualityFailed() })
                    }
                }
            }()
            do {
                if let thumbnailTap {
                    try await transcoder.run(thumbnailTap.tapping(session.media), inputExecutor: session.mediaExecutor)
                } else {
                    try await transcoder.run(session.media, inputExecutor: session.mediaExecutor)
                }
            } catch {
                logger.error("transcoding \(session.channelName) failed: \(error)")
                // Nobody can watch a stream that cannot be transcoded: end it, telling the encoder why.
                await session.kick(reason: "transcoding failed: \(error)", by: .system("transcoder"))
            }
            await announced
            await quality?.detach(sessionID: sessionID)
            await packager.finish()
        }
        if let thumbnailTap { await thumbnails?.end(thumbnailTap) }
        directory.unregister(packager)
        running.withLock { _ = $0.removeValue(forKey: session.id) }
    }

    struct ChannelSettings {
        var ladder: Ladder
        var packager: PackagerOptions
    }

    /// The channel's latest `LadderConfigured` and `PlaybackConfigured`, else the node's defaults.
    func channelSettings(_ channel: String) async -> ChannelSettings {
        var settings = ChannelSettings(ladder: defaults.ladder, packager: defaults.packager)
        do {
            for event in try await store.readStream("channel-\(channel)") {
                switch event.eventType {
                case LadderConfigured.eventType:
                    settings.ladder = try store.registry.decode(event, as: LadderConfigured.self).ladder
                case PlaybackConfigured.eventType:
                    let configured = try store.registry.decode(event, as: PlaybackConfigured.self)
                    var options = configured.options
                    options.segmentTarget = defaults.packager.segmentTarget
                    settings.packager = (try? options.validated()) ?? defaults.packager
                default:
                    break
                }
            }
        } catch {
            logger.warning("cannot read the settings of channel \(channel), using defaults: \(error)")
        }
        settings.packager.firstMediaSequence = 1  // PackagerOptions.firstMediaSequence says why
        return settings
    }
}
