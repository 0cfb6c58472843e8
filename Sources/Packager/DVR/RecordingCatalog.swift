import Crypto
import EventStore
import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// Recordings as VOD, from the `dvr` read model and the origin store: `/vod/SESSION/index.m3u8`,
/// its media playlists and files. Also finalizes recordings a stopped node left open, and deletes
/// recordings past their retention.
public final class RecordingCatalog: Sendable {
    public struct Recording: Sendable, Hashable, Codable {
        public var sessionID: String
        public var channelID: String
        public var channelName: String
        public var startedAt: Date
        public var state: String
        public var finalizedAt: Date?
        public var duration: Double?
        public var playbackURL: String
    }

    struct Segment: Sendable, Hashable {
        var msn: Int
        var duration: Double
        var programDateTime: Date
        var discontinuity: Bool
        var bytes: Int
    }

    struct RenditionIndex: Sendable {
        var name: String
        var kind: String
        var codecs: String
        var width: Int?
        var height: Int?
        var frameRate: Double?
        var segments: [Segment]
    }

    struct Loaded: Sendable {
        var recording: Recording
        var renditions: [RenditionIndex]
    }

    let store: EventStore
    let origin: OriginStore
    public let runner: ProjectionRunner
    /// Finalized recordings never change: loaded once.
    private let cache = Mutex<[String: Loaded]>([:])
    /// Which sessions have a recording, from memory: a request for a random id costs no query.
    public let knownSessions: KnownSet<UUID>

    public init(store: EventStore, origin: OriginStore) {
        self.store = store
        self.origin = origin
        self.runner = ProjectionRunner(store: store, sql: DVRProjection())
        self.knownSessions = KnownSet {
            let rows = try await store.readModels.query("SELECT session_id FROM recordings", logger: store.logger)
            var ids = Set<UUID>()
            for try await id in rows.decode(UUID.self) { ids.insert(id) }
            return ids
        }
    }

    /// Keeps the DVR index current until cancelled.
    public func run() async {
        await runner.run()
    }

    // MARK: Queries

    public func recordings(channelID: String) async throws -> [Recording] {
        guard let channel = UUID(uuidString: channelID) else { return [] }
        let rows = try await store.readModels.query(
            """
            SELECT session_id, channel_id, channel_name, started_at, state, finalized_at, duration
            FROM recordings WHERE channel_id = \(channel) AND state <> 'deleted' ORDER BY started_at DESC
            """, logger: store.logger)
        var list: [Recording] = []
        for try await (session, channel, name, started, state, finalized, duration) in rows.decode(
            (UUID, UUID, String, Date, String, Date?, Double?).self)
        {
            let id = session.uuidString.lowercased()
            list.append(
                Recording(
                    sessionID: id, channelID: channel.uuidString.lowercased(), channelName: name, startedAt: started,
                    state: state, finalizedAt: finalized, duration: duration, playbackURL: "/vod/\(id)/index.m3u8"))
        }
        return list
    }

    func load(_ session: String) async throws -> PlaybackAnswer<Loaded> {
        guard let id = UUID(uuidString: session) else { return .notFound("\(session) is not a session id") }
        let key = id.uuidString.lowercased()
        if let loaded = cache.withLock({ $0[key] }) { return .ready(loaded) }
        guard try await knownSessions.contains(id) else { return .notFound("no recording of session \(session)") }
        let rows = try await store.readModels.query(
            """
            SELECT channel_id, channel_name, started_at, state, finalized_at, duration FROM recordings WHERE session_id = \(id)
            """, logger: store.logger)
        var found: Recording?
        for try await (channel, name, started, state, finalized, duration) in rows.decode((UUID, String, Date, String, Date?, Double?).self)
        {
            found = Recording(
                sessionID: key, channelID: channel.uuidString.lowercased(), channelName: name, startedAt: started, state: state,
                finalizedAt: finalized, duration: duration, playbackURL: "/vod/\(key)/index.m3u8")
        }
        guard let recording = found else { return .notFound("no recording of session \(session)") }
        switch recording.state {
        case "deleted": return .notFound("the recording of session \(session) was deleted")
        case "live":
            return .notFound("session \(session) is still live (or being finalized); watch it at /live/\(recording.channelName)/index.m3u8")
        default: break
        }
        let segmentRows = try await store.readModels.query(
            """
            SELECT rendition, kind, codecs, width, height, frame_rate, media_sequence, duration, program_date_time, discontinuity, bytes
            FROM dvr_segments WHERE session_id = \(id) ORDER BY rendition, media_sequence
            """, logger: store.logger)
        var renditions: [RenditionIndex] = []
        for try await (rendition, kind, codecs, width, height, frameRate, msn, duration, date, discontinuity, bytes)
            in segmentRows.decode((String, String, String, Int32?, Int32?, Double?, Int64, Double, Date, Bool, Int64).self)
        {
            if renditions.last?.name != rendition {
                renditions.append(
                    RenditionIndex(
                        name: rendition, kind: kind, codecs: codecs, width: width.map(Int.init), height: height.map(Int.init),
                        frameRate: frameRate, segments: []))
            }
            renditions[renditions.count - 1].segments.append(
                Segment(
                    msn: Int(msn), duration: duration, programDateTime: date, discontinuity: discontinuity, bytes: Int(bytes)))
        }
        let loaded = Loaded(recording: recording, renditions: renditions)
        cache.withLock {
            if $0.count > 256 { $0.removeAll() }
            $0[key] = loaded
        }
        return .ready(loaded)
    }

    public func multivariantPlaylist(session: String) async throws -> PlaybackAnswer<String> {
        let loaded: Loaded
        switch try await load(session) {
        case .ready(let value): loaded = value
        case .notFound(let text): return .notFound(text)
        case .badRequest(let text): return .badRequest(text)
        case .unavailable(let text): return .unavailable(text)
        }
        let audio = loaded.renditions.first { $0.kind == "audio" }.flatMap {
            try? AudioRenditionInfo(
                rendition: $0.name, name: "Audio", language: nil, bandwidth: Self.peak($0), averageBandwidth: Self.average($0),
                codecs: $0.codecs)
        }
        let variants = loaded.renditions.filter { $0.kind == "video" }.compactMap { index in
            try? VariantInfo(
                rendition: index.name, bandwidth: Self.peak(index), averageBandwidth: Self.average(index), codecs: index.codecs,
                resolution: index.width.flatMap { w in index.height.map { VariantInfo.Resolution(width: w, height: $0) } },
                frameRate: index.frameRate)
        }
        return .ready(MultivariantPlaylistRenderer.render(variants: variants.map { $0.withAudioCodecs(audio) }, audio: audio))
    }

    public func mediaPlaylist(session: String, rendition: String) async throws -> PlaybackAnswer<String> {
        guard case .ready(let loaded) = try await load(session) else { return .notFound("no recording of session \(session)") }
        guard let index = loaded.renditions.first(where: { $0.name == rendition }), let first = index.segments.first else {
            return .notFound("the recording of session \(session) has no rendition \(rendition)")
        }
        let longest = index.segments.map(\.duration).max() ?? 1
        let configuration = try MediaPlaylistConfiguration(
            rendition: rendition, targetDuration: max(1, Int(longest.rounded())), partTarget: 0.5, dvrWindow: nil,
            streamStart: first.programDateTime, firstMediaSequence: first.msn)
        let segments = index.segments.map {
            MediaPlaylistState.Segment(
                msn: $0.msn, duration: $0.duration, programDateTime: $0.programDateTime, discontinuity: $0.discontinuity,
                byteSize: $0.bytes, partCount: 0, parts: [])
        }
        return .ready(MediaPlaylistRenderer.vod(configuration: configuration, segments: segments))
    }

    public func file(session: String, rendition: String, _ resource: HLSResource) async throws -> PlaybackAnswer<MediaFile> {
        guard case .ready(let loaded) = try await load(session) else { return .notFound("no recording of session \(session)") }
        guard let index = loaded.renditions.first(where: { $0.name == rendition }) else {
            return .notFound("the recording of session \(session) has no rendition \(rendition)")
        }
        switch resource {
        case .initialization:
            break
        case .segment(let msn):
            guard index.segments.contains(where: { $0.msn == msn }) else { return .notFound("segment \(msn) is not in this recording") }
        case .part, .playlist:
            return .notFound("recordings are served as whole segments")
        }
        let path = "\(OriginStore.folder(session: loaded.recording.sessionID, rendition: rendition))/\(resource.name)"
        guard let file = origin.located(path) else { return .notFound("\(resource.name) is missing from the origin store") }
        return .ready(
            MediaFile(
                path: file.path, size: file.size, session: loaded.recording.sessionID, rendition: rendition, resource: resource,
                published: loaded.recording.finalizedAt ?? loaded.recording.startedAt))
    }

    static func peak(_ index: RenditionIndex) -> Int {
        max(1, index.segments.map { $0.duration > 0 ? Int(Double($0.bytes) * 8 / $0.duration) : 0 }.max() ?? 1)
    }

    static func average(_ index: RenditionIndex) -> Int {
        let seconds = index.segments.reduce(0) { $0 + $1.duration }
        return seconds > 0 ? Int(Double(index.segments.reduce(0) { $0 + $1.bytes }) * 8 / seconds) : 0
    }

    // MARK: Maintenance

    /// Recordings still marked live whose last segment is older than `quietFor` and that this node
    /// does not package: a node stopped without ending them. Finalized with what reached disk (the
    /// index lists only complete segments). Event ids derive from the session, so two nodes
    /// recovering the same recording append it once.
    public func interrupted(quietFor: TimeInterval, excluding live: Set<String>) async throws -> [Recording] {
        await runner.waitUntil(try await store.headPosition())
        let cutoff = Date().addingTimeInterval(-quietFor)
        let rows = try await store.readModels.query(
            """
            SELECT session_id, channel_id, channel_name, started_at FROM recordings
            WHERE state = 'live' AND last_segment_at < \(cutoff)
            """, logger: store.logger)
        var list: [Recording] = []
        for try await (session, channel, name, started) in rows.decode((UUID, UUID, String, Date).self) {
            let id = session.uuidString.lowercased()
            guard !live.contains(id) else { continue }
            list.append(
                Recording(
                    sessionID: id, channelID: channel.uuidString.lowercased(), channelName: name, startedAt: started, state: "live",
                    finalizedAt: nil, duration: nil, playbackURL: "/vod/\(id)/index.m3u8"))
        }
        return list
    }

    /// Appends `RecordingFinalized(recovered after restart)` for `recording`.
    public func finalizeInterrupted(_ recording: Recording) async throws {
        guard let id = UUID(uuidString: recording.sessionID) else { return }
        let rows = try await store.readModels.query(
            """
            SELECT rendition, count(*)::bigint, coalesce(sum(duration), 0)::float8 FROM dvr_segments WHERE session_id = \(id) GROUP BY rendition
            """, logger: store.logger)
        var segments: [String: Int] = [:]
        var duration = 0.0
        for try await (rendition, count, seconds) in rows.decode((String, Int64, Double).self) {
            segments[rendition] = Int(count)
            duration = max(duration, seconds)
        }
        let event = RecordingFinalized(
            sessionID: recording.sessionID, channelID: recording.channelID, channelName: recording.channelName,
            reason: .recoveredAfterRestart, segments: segments, duration: duration)
        _ = try await store.append(
            to: "session-\(recording.sessionID)", expectedVersion: .any,
            events: [
                try NewEvent(
                    event, metadata: EventMetadata(actor: .system("packager")), eventId: Self.derivedID("finalize", recording.sessionID))
            ], durability: .spoolable)
    }

    /// Deletes the files of finalized recordings older than `retention` and records each deletion.
    public func deleteExpired(retention: TimeInterval) async throws -> Int {
        let cutoff = Date().addingTimeInterval(-retention)
        let rows = try await store.readModels.query(
            """
            SELECT session_id, channel_id FROM recordings WHERE state = 'finalized' AND finalized_at < \(cutoff)
            """, logger: store.logger)
        var expired: [(String, String)] = []
        for try await (session, channel) in rows.decode((UUID, UUID).self) {
            expired.append((session.uuidString.lowercased(), channel.uuidString.lowercased()))
        }
        for (session, channel) in expired {
            let bytes = (try? origin.removeSession(session)) ?? 0
            let days = Int((retention / 86_400).rounded())
            _ = try await store.append(
                to: "session-\(session)", expectedVersion: .any,
                events: [
                    try NewEvent(
                        RecordingDeleted(
                            sessionID: session, channelID: channel, reason: "retention (older than \(days) days)", bytes: bytes),
                        metadata: EventMetadata(actor: .system("packager")), eventId: Self.derivedID("delete", session))
                ], durability: .spoolable)
            cache.withLock { _ = $0.removeValue(forKey: session) }
        }
        return expired.count
    }

    /// A UUID that is a function of its inputs (SHA-256, shaped as a version 8 UUID).
    public static func derivedID(_ parts: String...) -> UUID {
        var bytes = Array(SHA256.hash(data: Data(parts.joined(separator: "/").utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
