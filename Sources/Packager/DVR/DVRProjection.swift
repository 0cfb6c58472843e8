import EventStore
import Foundation
import Logging
import PostgresNIO

/// The `dvr_segments` and `recordings` read models (migrations/0005): the index the DVR window and
/// the VOD playlists are rebuilt from, so both survive a restart.
public struct DVRProjection: SQLProjection {
    public let name = "dvr"
    public let tables = ["dvr_segments", "recordings"]
    public let filter = EventFilter(
        streamPrefix: "session-",
        types: [SegmentPublished.eventType, RecordingFinalized.eventType, RecordingDeleted.eventType])

    public init() {}

    public func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        switch event.eventType {
        case SegmentPublished.eventType:
            let s = try registry.decode(event, as: SegmentPublished.self)
            for r in s.renditions {
                let width = r.width.map(Int32.init(clamping:))
                let height = r.height.map(Int32.init(clamping:))
                try await connection.query(
                    """
                    INSERT INTO dvr_segments (session_id, rendition, media_sequence, channel_id, kind, duration, bytes,
                        program_date_time, path, discontinuity, codecs, width, height, frame_rate, position)
                    VALUES (\(s.sessionID)::uuid, \(r.rendition), \(Int64(s.mediaSequence)), \(s.channelID)::uuid, \(r.kind.rawValue),
                        \(r.duration), \(Int64(r.bytes)), \(r.programDateTime), \(r.path), \(r.discontinuity), \(r.codecs),
                        \(width), \(height), \(r.frameRate), \(event.position))
                    ON CONFLICT (session_id, rendition, media_sequence) DO NOTHING
                    """, logger: logger)
            }
            guard s.recorded ?? true, let first = s.renditions.map(\.programDateTime).min() else { return }
            try await connection.query(
                """
                INSERT INTO recordings (session_id, channel_id, channel_name, started_at, last_segment_at, state)
                VALUES (\(s.sessionID)::uuid, \(s.channelID)::uuid, \(s.channelName), \(first), \(event.recordedAt), 'live')
                ON CONFLICT (session_id) DO UPDATE SET last_segment_at = EXCLUDED.last_segment_at,
                    started_at = LEAST(recordings.started_at, EXCLUDED.started_at)
                """, logger: logger)
        case RecordingFinalized.eventType:
            let f = try registry.decode(event, as: RecordingFinalized.self)
            try await connection.query(
                """
                UPDATE recordings SET state = 'finalized', finalized_at = \(event.recordedAt),
                    finalize_reason = \(f.reason.rawValue), duration = \(f.duration)
                WHERE session_id = \(f.sessionID)::uuid AND state = 'live'
                """, logger: logger)
        case RecordingDeleted.eventType:
            let d = try registry.decode(event, as: RecordingDeleted.self)
            try await connection.query(
                """
                UPDATE recordings SET state = 'deleted', deleted_at = \(event.recordedAt), delete_reason = \(d.reason)
                WHERE session_id = \(d.sessionID)::uuid
                """, logger: logger)
        default:
            break
        }
    }
}
