import EventStore
import Foundation
import Logging
import Media
import Synchronization

/// Where the packager's facts go: appended to the session's stream by the integrator. Called from a
/// task of its own, never from the media path.
public typealias PackagerEventSink = @Sendable (any DomainEvent) async -> Void

/// Packages every rendition of one live session for LL-HLS and, at its end, finalizes the recording.
///
/// Audio is its own rendition in an audio group that every video variant references (the layout
/// Apple's HLS authoring spec recommends): one audio encode serves every rung, a rung can stop
/// (overload, quality, audio-only) without touching the sound, and audio-only is just the audio
/// playlist listed as a variant of its own.
public final class StreamPackager: Sendable {
    public let identity: SessionIdentity
    public let options: PackagerOptions
    public let startedAt: Date
    let origin: OriginStore
    let targetDuration: Int
    let logger: Logger
    private let anchor = TimeAnchor()
    private let renditions = Mutex<[RenditionPackager]>([])
    private let plannedVideo = Mutex<(@Sendable () -> Set<String>?)?>(nil)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let events: AsyncStream<Output>.Continuation
    private let pending: AsyncStream<Output>
    private let sink: PackagerEventSink

    /// What `publishEvents` reads: a rendition's event, or a wake-up for the segments' deadline.
    enum Output: Sendable {
        case event(any DomainEvent)
        case tick
    }

    /// How long a segment waits for the ladder's slower renditions before it is logged without them.
    static func segmentDeadline(targetDuration: Int) -> Duration {
        .seconds(max(2, targetDuration))
    }

    /// `longestKeyframeInterval`: the longest keyframe spacing the ladder may produce (its
    /// passthrough limit, or its IDR interval); `EXT-X-TARGETDURATION` must cover it from the start,
    /// since it may never change.
    public init(
        identity: SessionIdentity, origin: OriginStore, options: PackagerOptions, longestKeyframeInterval: Double,
        logger: Logger, events sink: @escaping PackagerEventSink
    ) {
        self.identity = identity
        self.options = options
        self.origin = origin
        self.logger = logger
        startedAt = Date()
        targetDuration = Int(max(options.segmentTarget, longestKeyframeInterval).rounded(.up))
        let (stream, continuation) = AsyncStream.makeStream(of: Output.self)
        events = continuation
        pending = stream
        self.sink = sink
    }

    /// Hands the session's events to the sink in order until `finish()` has ended them; then, when
    /// the session is not recorded, removes its files (no live playlist references them any more).
    /// Whoever runs the session runs this beside it.
    public func publishEvents() async {
        var collector = SegmentCollector(deadline: Self.segmentDeadline(targetDuration: targetDuration))
        let ticks = Task { [events] in
            while (try? await Task.sleep(for: .milliseconds(500))) != nil {
                if case .terminated = events.yield(.tick) { return }
            }
        }
        for await output in pending {
            let ready: [any DomainEvent]
            switch output {
            case .event(let segment as SegmentPublished):
                let expected = Set(renditions.withLock { $0 }.filter(\.expectsSegments).map(\.name))
                ready = collector.add(segment, expected: expected, now: .now)
            case .event(let event):
                ready = collector.flush() + [event]
            case .tick:
                ready = collector.expire(now: .now)
            }
            for event in ready { await sink(event) }
        }
        ticks.cancel()
        for event in collector.flush() { await sink(event) }
        if !options.recording {
            _ = try? origin.removeSession(identity.sessionID)
        }
    }

    /// Starts packaging a rendition; its items are consumed until they end.
    public func add(rendition name: String, kind: TrackKind, bitrate: Int?, items: AsyncStream<MediaItem>) {
        let events = self.events
        let packager: RenditionPackager
        do {
            packager = try RenditionPackager(
                name: name, kind: kind, bitrate: bitrate, identity: identity, origin: origin, options: options,
                targetDuration: targetDuration, streamStart: startedAt, anchor: anchor, logger: logger,
                publish: { events.yield(.event($0)) },
                siblings: { [weak self] in self?.reports(except: name) ?? [] })
        } catch {
            logger.error("cannot package rendition \(name) of \(identity.channelName): \(error)")
            Task { for await _ in items {} }
            return
        }
        renditions.withLock { $0.append(packager) }
        let task = Task { await packager.run(items) }
        tasks.withLock { $0.append(task) }
    }

    /// A rung stopped or started again (overload, quality state, audio-only): the multivariant
    /// playlist lists only active renditions.
    public func setActive(_ active: Bool, rendition name: String) {
        self.rendition(named: name)?.setActive(active)
    }

    public func rendition(named name: String) -> RenditionPackager? {
        renditions.withLock { $0.first { $0.name == name } }
    }

    public var renditionNames: [String] { renditions.withLock { $0.map(\.name) } }

    /// Blocking playlist reloads waiting on this stream's renditions now.
    public var waitingReloads: Int { renditions.withLock { $0 }.reduce(0) { $0 + $1.waiters.count } }

    func reports(except name: String) -> [RenditionReport] {
        renditions.withLock { $0 }.filter { $0.name != name }.compactMap(\.report)
    }

    /// Where the multivariant playlist learns which video renditions the transcoder will make for
    /// this source (`nil` while it does not know yet); without it, it waits only for audio.
    public func expectVideo(from planned: @escaping @Sendable () -> Set<String>?) {
        plannedVideo.withLock { $0 = planned }
    }

    /// The multivariant playlist: active video renditions by bandwidth, each with the audio group;
    /// only audio when no video rendition is active. `nil` until it can be complete (see
    /// `MultivariantListing`).
    public func multivariantPlaylist() -> String? { multivariantListing().playlist() }

    public func multivariantListing() -> MultivariantListing {
        let current = renditions.withLock { $0 }
        let planned = plannedVideo.withLock { $0 }
        return MultivariantListing(
            renditions: zip(current, current.map(\.variant)).map { packager, variant in
                MultivariantListing.Rendition(
                    name: packager.name, kind: packager.kind, info: variant.info, audio: variant.audio, active: variant.active)
            },
            plannedVideo: planned.map { $0() } ?? Set(current.filter { $0.kind == .video }.map(\.name)),
            waitOver: Date().timeIntervalSince(startedAt) >= MultivariantListing.wait(targetDuration: targetDuration))
    }

    /// Waits for every rendition to end (their sources finish when the transcode ends), then
    /// records `RecordingFinalized` when recording, and ends the events (`publishEvents` returns
    /// once the sink has them all).
    public func finish() async {
        for task in tasks.withLock({ $0 }) { await task.value }
        let summaries = renditions.withLock { $0 }.map { ($0.name, $0.recordingSummary) }
        let published = summaries.filter { $0.1.segments > 0 }
        if options.recording, !published.isEmpty {
            events.yield(
                .event(
                    RecordingFinalized(
                        sessionID: identity.sessionID, channelID: identity.channelID, channelName: identity.channelName,
                        reason: .streamEnded, segments: Dictionary(uniqueKeysWithValues: published.map { ($0.0, $0.1.segments) }),
                        duration: published.map(\.1.duration).max() ?? 0)))
        }
        events.finish()
    }
}

extension VariantInfo {
    /// CODECS must name every format a variant plays, its audio group's included (RFC 8216bis
    /// §4.4.6.2); the renderer adds the audio's bandwidth itself.
    func withAudioCodecs(_ audio: AudioRenditionInfo?) -> VariantInfo {
        guard let audio, !codecs.contains(audio.codecs) else { return self }
        return
            (try? VariantInfo(
                rendition: rendition, bandwidth: bandwidth, averageBandwidth: averageBandwidth,
                codecs: "\(codecs),\(audio.codecs)", resolution: resolution, frameRate: frameRate)) ?? self
    }
}
