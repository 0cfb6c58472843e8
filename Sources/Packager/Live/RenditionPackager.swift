import Crypto
import EventStore
import Foundation
import Logging
import Media
import NIOCore
import Synchronization

/// One rendition of a live session: cuts its packets into CMAF parts and segments, writes them once
/// to the origin store, keeps the newest in memory for players, advances the playlist state and
/// wakes the requests blocked on it, and reports each finished segment, with the SHA-256 of its
/// bytes, as a one-rendition `SegmentPublished` (the stream's `SegmentCollector` gathers the
/// ladder's into one event).
///
/// The media path (`run`) never waits on the database: events leave through `publish`, which only
/// enqueues.
public final class RenditionPackager: Sendable {
    public let name: String
    public let kind: TrackKind
    let identity: SessionIdentity
    let origin: OriginStore
    let options: PackagerOptions
    let configuration: MediaPlaylistConfiguration
    let waiters: PlaylistWaiters
    let anchor: TimeAnchor
    let publish: @Sendable (any DomainEvent) -> Void
    let siblings: @Sendable () -> [RenditionReport]
    let logger: Logger
    private let shared: Mutex<Shared>
    private let metrics: PackagerMetrics.Rendition

    /// Segments whose bytes stay in memory: the ones whose parts the playlist lists, and one more.
    static let segmentsInMemory = MediaPlaylistConfiguration.segmentsWithParts + 2

    struct Shared: Sendable {
        var playlist: MediaPlaylistState
        var initFile: MediaFile?
        /// The init segment's digest, until the first segment's event has carried it.
        var unpublishedInit: SegmentPublished.StoredFile?
        var codecs: String?
        var width: Int?
        var height: Int?
        var frameRate: Double?
        var declaredBitrate: Int?
        var recent: [Int: RecentSegment] = [:]
        /// The transcoder produces this rendition now (false while a rung is turned off).
        var active = true
        var peakBitrate = 0
        var recentBitrates: [Int] = []
        var segmentsPublished = 0
        var publishedDuration = 0.0
        /// Trimmed segment files awaiting deletion (when not recording), with when they left.
        var doomed: [(path: String, trimmedAt: Date)] = []
        var lastPartAt: ContinuousClock.Instant?
    }

    struct RecentSegment: Sendable {
        var parts: [MediaFile] = []
        var whole: MediaFile?
    }

    init(
        name: String, kind: TrackKind, bitrate: Int?, identity: SessionIdentity, origin: OriginStore, options: PackagerOptions,
        targetDuration: Int, streamStart: Date, anchor: TimeAnchor, logger: Logger,
        publish: @escaping @Sendable (any DomainEvent) -> Void, siblings: @escaping @Sendable () -> [RenditionReport]
    ) throws {
        self.name = name
        self.metrics = PackagerMetrics.Rendition(channel: identity.channelName, rendition: name)
        self.kind = kind
        self.identity = identity
        self.origin = origin
        self.options = options
        self.anchor = anchor
        self.logger = logger
        self.publish = publish
        self.siblings = siblings
        configuration = try MediaPlaylistConfiguration(
            rendition: name, targetDuration: targetDuration, partTarget: options.partTarget,
            dvrWindow: options.dvrWindow, streamStart: streamStart, firstMediaSequence: options.firstMediaSequence,
            partHoldBack: options.partHoldBack)
        waiters = PlaylistWaiters(timeout: configuration.blockingTimeout)
        var shared = Shared(playlist: MediaPlaylistState(configuration: configuration))
        shared.declaredBitrate = bitrate
        self.shared = Mutex(shared)
    }

    var folder: String { OriginStore.folder(session: identity.sessionID, rendition: name) }

    // MARK: The media path

    /// Packages `items` until they end, then ends the playlist (`EXT-X-ENDLIST`).
    func run(_ items: AsyncStream<MediaItem>) async {
        var cutter: CMAFSegmenter?
        var file: AppendingFile?
        var digest = SHA256()
        var epoch = 0
        var pendingDiscontinuity = false
        let segmenterOptions = (try? SegmenterOptions(partTarget: options.partTarget, segmentTarget: options.segmentTarget)) ?? .default
        do {
            try origin.createFolder(session: identity.sessionID, rendition: name)
        } catch {
            logger.error("packager \(identity.channelName)/\(name): \(error); this rendition is not served")
        }
        func handle(_ outputs: [SegmenterOutput]) {
            for output in outputs {
                switch output {
                case .part(let chunk):
                    if chunk.isFirstPartOfSegment {
                        digest = SHA256()
                        file?.close()
                        file = try? AppendingFile(origin.url("\(folder)/\(HLSResource.segment(msn: chunk.segmentSequence).name)"))
                        if file == nil {
                            logger.error("packager \(identity.channelName)/\(name): cannot open segment \(chunk.segmentSequence)")
                        }
                    }
                    let bytes = ByteBuffer(bytes: chunk.bytes)
                    digest.update(data: chunk.bytes)
                    do { try file?.append(bytes) } catch { logger.error("packager \(identity.channelName)/\(name): \(error)") }
                    partReady(chunk, bytes: bytes, epoch: epoch, discontinuity: pendingDiscontinuity && chunk.isFirstPartOfSegment)
                    if chunk.isFirstPartOfSegment { pendingDiscontinuity = false }
                case .segmentEnd(let summary):
                    file?.close()
                    file = nil
                    segmentReady(summary, epoch: epoch, sha256: SHA256Hex.string(digest.finalize()))
                    digest = SHA256()
                }
            }
        }
        for await item in items {
            switch item {
            case .track(let track):
                guard cutter == nil else { continue }
                do {
                    let initSegment = try CMAFInitSegment(track: track)
                    let bytes = ByteBuffer(bytes: initSegment.bytes)
                    let initPath = "\(folder)/\(HLSResource.initialization.name)"
                    try origin.write(bytes, to: initPath)
                    let initDigest = SHA256Hex.string(SHA256.hash(data: initSegment.bytes))
                    shared.withLock {
                        $0.initFile = mediaFile(bytes, .initialization, published: Date())
                        $0.unpublishedInit = .init(path: initPath, bytes: initSegment.bytes.count, sha256: initDigest)
                        $0.codecs = initSegment.codecString
                        $0.width = initSegment.width ?? track.width
                        $0.height = initSegment.height ?? track.height
                        $0.frameRate = track.frameRate
                        if $0.declaredBitrate == nil { $0.declaredBitrate = track.bitrate }
                    }
                    let segmenter = CMAFSegmenter(
                        track: track, options: segmenterOptions, firstSegmentSequence: options.firstMediaSequence)
                    shared.withLock { $0.playlist.declarePartTarget(segmenter.advertisedPartTarget) }
                    cutter = segmenter
                } catch {
                    logger.error("packager \(identity.channelName)/\(name): cannot package \(track.codec): \(error)")
                }
            case .packet(let packet):
                guard var current = cutter else { continue }
                let outputs = current.push(packet)
                cutter = current
                handle(outputs)
            case .discontinuity:
                metrics.discontinuities.increment()
                guard var current = cutter else { continue }
                let outputs = current.discontinuity()
                cutter = current
                handle(outputs)
                epoch += 1
                pendingDiscontinuity = true
                shared.withLock { try? $0.playlist.discontinuity() }
            }
        }
        if var current = cutter {
            handle(current.finish())
            cutter = current
        }
        file?.close()
        end()
    }

    private func partReady(_ chunk: CMAFChunk, bytes: ByteBuffer, epoch: Int, discontinuity: Bool) {
        let date = anchor.date(epoch: epoch, media: chunk.startTime, duration: chunk.duration)
        let resource = HLSResource.part(msn: chunk.segmentSequence, index: chunk.partIndex)
        let file = mediaFile(bytes, resource, published: Date())
        let state: MediaPlaylistState? = shared.withLock { shared in
            do {
                try shared.playlist.partReady(
                    .init(
                        msn: chunk.segmentSequence, index: chunk.partIndex, duration: chunk.duration, independent: chunk.independent,
                        programDateTime: chunk.isFirstPartOfSegment ? date : nil))
            } catch {
                logger.error("packager \(identity.channelName)/\(name): \(error)")
                return nil
            }
            shared.recent[chunk.segmentSequence, default: RecentSegment()].parts.append(file)
            let now = ContinuousClock.now
            if let last = shared.lastPartAt { metrics.interval.recordSeconds((now - last).inSeconds) }
            shared.lastPartAt = now
            return shared.playlist
        }
        if let state {
            waiters.update(state)
            metrics.delay.recordSeconds(max(0, Date().timeIntervalSince(date) - chunk.duration))
        }
    }

    private func segmentReady(_ summary: CMAFSegmentSummary, epoch: Int, sha256: String) {
        let date = anchor.date(epoch: epoch, media: summary.startTime, duration: summary.duration)
        let path = "\(folder)/\(HLSResource.segment(msn: summary.sequence).name)"
        let now = Date()
        let outcome: (state: MediaPlaylistState, event: SegmentPublished, delete: [String])? = shared.withLock { shared in
            let trimmed: [MediaPlaylistState.Segment]
            let input = MediaPlaylistState.SegmentInput(
                msn: summary.sequence, duration: summary.duration, programDateTime: date,
                discontinuity: summary.discontinuity, byteSize: summary.byteCount)
            do {
                trimmed = try shared.playlist.segmentReady(input)
            } catch {
                // Its parts are listed already: refused, it would stop this rendition for good.
                guard case HLSPlaylistError.segmentTooLong = error,
                    let taken = try? shared.playlist.segmentReady(input, enforcingTargetDuration: false)
                else {
                    logger.error("packager \(identity.channelName)/\(name): \(error)")
                    return nil
                }
                metrics.overlong.increment()
                logger.error("packager \(identity.channelName)/\(name): \(error); listed anyway, so the rendition goes on")
                trimmed = taken
            }
            if var recent = shared.recent[summary.sequence] {
                var whole = ByteBuffer()
                whole.reserveCapacity(recent.parts.reduce(0) { $0 + $1.bytes.readableBytes })
                for part in recent.parts { whole.writeImmutableBuffer(part.bytes) }
                recent.whole = mediaFile(whole, .segment(msn: summary.sequence), published: now)
                shared.recent[summary.sequence] = recent
            }
            shared.recent = shared.recent.filter { $0.key > summary.sequence - Self.segmentsInMemory }
            // BANDWIDTH is the peak segment bitrate, AVERAGE-BANDWIDTH their mean (RFC 8216bis
            // §4.4.6.2), both over the segment resources as delivered.
            shared.peakBitrate = max(shared.peakBitrate, summary.bitrate)
            shared.recentBitrates.append(summary.bitrate)
            if shared.recentBitrates.count > 30 { shared.recentBitrates.removeFirst() }
            shared.segmentsPublished += 1
            shared.publishedDuration += summary.duration
            var delete: [String] = []
            if !options.recording {
                // RFC 8216bis §6.2.2: a removed segment stays available for its duration plus the
                // playlist's, so players that just loaded an older playlist can still fetch it.
                shared.doomed += trimmed.map { ("\(folder)/\(HLSResource.segment(msn: $0.msn).name)", now) }
                let grace = options.dvrWindow + Double(configuration.targetDuration) * 2
                delete = shared.doomed.filter { now.timeIntervalSince($0.trimmedAt) > grace }.map(\.path)
                shared.doomed.removeAll { now.timeIntervalSince($0.trimmedAt) > grace }
            }
            let event = SegmentPublished(
                sessionID: identity.sessionID, channelID: identity.channelID, channelName: identity.channelName,
                mediaSequence: summary.sequence, recorded: options.recording,
                renditions: [
                    .init(
                        rendition: name, kind: kind, duration: summary.duration, bytes: summary.byteCount, programDateTime: date,
                        path: path, discontinuity: summary.discontinuity, codecs: shared.codecs ?? "", width: shared.width,
                        height: shared.height, frameRate: shared.frameRate, sha256: sha256, initialization: shared.unpublishedInit)
                ])
            shared.unpublishedInit = nil
            return (shared.playlist, event, delete)
        }
        guard let outcome else { return }
        metrics.segments.increment()
        waiters.update(outcome.state)
        publish(outcome.event)
        for path in outcome.delete { origin.remove(path) }
    }

    private func end() {
        let state = shared.withLock { shared in
            _ = shared.playlist.end()
            return shared.playlist
        }
        waiters.update(state)
        waiters.finish()
    }

    // MARK: Control

    func setActive(_ active: Bool) {
        shared.withLock { $0.active = active }
    }

    /// Whether the ladder's next segment should include this rendition's: it has started and is on
    /// (`SegmentCollector`'s wait). A source that ended is not read here: its last reports may
    /// still be queued behind the others', and the session's end flushes them together.
    var expectsSegments: Bool {
        shared.withLock { $0.initFile != nil && $0.active }
    }

    // MARK: Serving

    /// The media playlist for a request's `_HLS_msn`, `_HLS_part` and `_HLS_skip`, held until the
    /// playlist contains what it asks for.
    public func playlist(query: [String: String]) async -> PlaybackAnswer<String> {
        let directives: PlaylistDirectives
        do {
            directives = try PlaylistDirectives(query: query.map { ($0.key, $0.value) })
        } catch {
            return .badRequest("\(error)")
        }
        if let request = directives.blocking {
            let state = shared.withLock { $0.playlist }
            var outcome = PlaylistWaiters.Outcome.ready
            switch request.decide(against: state) {
            case .ready: break
            case .badRequest(let reason): return .badRequest(reason)
            case .notFound(let reason): return .notFound(reason)
            case .wait: outcome = await waiters.wait(for: .playlist(request))
            }
            switch outcome {
            case .ready: break
            case .badRequest(let reason): return .badRequest(reason)
            case .notFound(let reason): return .notFound(reason)
            case .timedOut, .cancelled:
                return .unavailable(
                    "the playlist did not reach segment \(request.msn)\(request.part.map { " part \($0)" } ?? "") within \(configuration.blockingTimeout); is the stream stalled?"
                )
            }
        }
        let current = shared.withLock { $0.playlist }
        // Before the first part, PART-TARGET may still change (the track declares its own), and it
        // must not change between reloads; so there is no playlist until there is media.
        guard current.lastPosition != nil || current.isEnded else {
            return .notFound("rendition \(name) has no media yet; retry in a second")
        }
        return .ready(MediaPlaylistRenderer.live(current, renditionReports: siblings(), skip: directives.skip))
    }

    /// The file when it can be served this instant from memory (the init segment, a part, a recent
    /// whole segment); nil when it needs the disk or a wait, which `file(_:)` does.
    public func fileInMemory(_ resource: HLSResource) -> MediaFile? {
        switch resource {
        case .playlist: nil
        case .initialization: shared.withLock { $0.initFile }
        case .segment(let msn): shared.withLock { $0.recent[msn]?.whole }
        case .part(let msn, let index): partFile(msn: msn, index: index)
        }
    }

    /// An init segment, segment or part; a part not yet made (the preload hint) is held until it is.
    public func file(_ resource: HLSResource) async -> PlaybackAnswer<MediaFile> {
        if let file = fileInMemory(resource) { return .ready(file) }
        switch resource {
        case .playlist:
            return .notFound("use index.m3u8 through playlist(query:)")
        case .initialization:
            return .notFound("this rendition has no media yet")
        case .segment(let msn):
            let listed = shared.withLock { $0.playlist.segment(msn: msn) != nil }
            guard listed || options.recording else { return .notFound("segment \(msn) is not in the DVR window") }
            let path = "\(folder)/\(resource.name)"
            let isComplete = shared.withLock { $0.playlist.lastCompleteMSN.map { msn <= $0 } ?? false }
            guard isComplete, let file = origin.located(path) else { return .notFound("segment \(msn) does not exist") }
            return .ready(
                MediaFile(
                    path: file.path, size: file.size, session: identity.sessionID, rendition: name, resource: resource, published: Date()))
        case .part(let msn, let index):
            let request: PartRequest
            do {
                request = try PartRequest(msn: msn, index: index)
            } catch {
                return .notFound("\(error)")
            }
            let state = shared.withLock { $0.playlist }
            var outcome = PlaylistWaiters.Outcome.ready
            switch request.decide(against: state) {
            case .ready: break
            case .badRequest(let reason), .notFound(let reason): return .notFound(reason)
            case .wait: outcome = await waiters.wait(for: .part(request))
            }
            switch outcome {
            case .ready: break
            case .badRequest(let reason), .notFound(let reason): return .notFound(reason)
            case .timedOut, .cancelled:
                return .unavailable("part \(index) of segment \(msn) was not made within \(configuration.blockingTimeout)")
            }
            guard let part = partFile(msn: msn, index: index) else {
                return .notFound("part \(index) of segment \(msn) does not exist (its segment ended with fewer parts, or left memory)")
            }
            return .ready(part)
        }
    }

    private func partFile(msn: Int, index: Int) -> MediaFile? {
        shared.withLock { shared in
            guard let parts = shared.recent[msn]?.parts, index >= 0, index < parts.count else { return nil }
            return parts[index]
        }
    }

    // MARK: Reports

    var report: RenditionReport? {
        shared.withLock { $0.playlist.lastPosition == nil ? nil : $0.playlist.renditionReport }
    }

    /// This rendition as a variant of the multivariant playlist, once it has a complete segment.
    var variant: (info: VariantInfo?, audio: AudioRenditionInfo?, active: Bool) {
        shared.withLock { shared in
            guard let codecs = shared.codecs, shared.segmentsPublished > 0 else { return (nil, nil, shared.active) }
            let average = shared.recentBitrates.isEmpty ? nil : shared.recentBitrates.reduce(0, +) / shared.recentBitrates.count
            let peak = max(shared.peakBitrate, average ?? 0, 1)
            if kind == .audio {
                return (
                    nil,
                    try? AudioRenditionInfo(
                        rendition: name, name: "Audio", language: nil, bandwidth: peak, averageBandwidth: average, codecs: codecs),
                    shared.active
                )
            }
            let resolution = shared.width.flatMap { w in shared.height.map { VariantInfo.Resolution(width: w, height: $0) } }
            let info = try? VariantInfo(
                rendition: name, bandwidth: peak, averageBandwidth: average, codecs: codecs, resolution: resolution,
                frameRate: shared.frameRate)
            return (info, nil, shared.active)
        }
    }

    var recordingSummary: (segments: Int, duration: Double) {
        shared.withLock { ($0.segmentsPublished, $0.publishedDuration) }
    }

    private func mediaFile(_ bytes: ByteBuffer, _ resource: HLSResource, published: Date) -> MediaFile {
        MediaFile(bytes: bytes, session: identity.sessionID, rendition: name, resource: resource, published: published)
    }
}
