import EventStore
import Foundation
import PostgresNIO

/// Reads of the `dashboard` projection: what the console shows.
public struct DashboardReadModel: Sendable {
    /// A session with its latest figures and running totals; after the end, its report.
    public struct Session: Sendable, Hashable, Codable {
        public var sessionID: String
        public var channelID: String
        public var channelName: String
        public var `protocol`: String
        public var remoteAddress: String
        public var encoder: String?
        public var media: JSONValue
        public var startedAt: Date
        public var endedAt: Date?
        public var endReason: String?
        public var endDetail: String?
        public var live: Bool
        public var durationSeconds: Double
        public var bitrate: Int
        public var frameRate: Double
        public var sampledAt: Date?
        public var quality: String?
        /// From the quality read model while live.
        public var health: Int?
        public var samples: Int
        public var averageBitrate: Double?
        public var averageFrameRate: Double?
        public var bytesReceived: Int64
        public var droppedFrames: Int64
        public var lateFrames: Int64
        public var reconnects: Int
        public var qualityChanges: Int
        /// Renditions on now, by name (their `RenditionStarted`).
        public var renditions: JSONValue
        public var viewers: Int
        public var peakViewers: Int
        public var averageViewers: Double?
        public var qoe: PlaybackQoE?
        public var chatMessages: Int
        public var moderationActions: Int
        /// Ingest alerts open now, by rule (their `IngestAlertRaised`); empty once ended.
        public var alerts: JSONValue
    }

    public struct TimelineEntry: Sendable, Hashable, Codable {
        public var position: Int64
        public var at: Date
        /// started, sample, quality, rendition, resumed, audience, alert, ended
        public var kind: String
        public var data: JSONValue
    }

    public struct ActivityEntry: Sendable, Hashable, Codable {
        public var position: Int64
        public var at: Date
        /// refusal or moderation
        public var kind: String
        public var eventType: String
        public var channel: String?
        public var actor: String
        public var reason: String?
        public var data: JSONValue
    }

    let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    /// Sessions now live, newest first.
    public func liveSessions() async throws -> [Session] {
        try await sessions(where: "s.live", limit: 500)
    }

    public func session(_ id: String) async throws -> Session? {
        try await sessions(where: "s.session_id = $1", bind: id, limit: 1).first
    }

    /// A channel's sessions, newest first.
    public func sessions(channel: String, limit: Int = 50) async throws -> [Session] {
        try await sessions(where: "s.channel_name = $1", bind: channel, limit: limit)
    }

    /// Every channel's sessions, newest first.
    public func recentSessions(limit: Int = 50) async throws -> [Session] {
        try await sessions(where: "true", limit: limit)
    }

    /// A session's timeline in log order, of the given kinds (all when nil), after `after`.
    public func timeline(session: String, kinds: [String]? = nil, after: Int64 = 0, limit: Int = 5_000) async throws -> [TimelineEntry] {
        let rows = try await store.readModels.query(
            """
            SELECT jsonb_build_object('position', position, 'at', \(unescaped: Self.date("at")), 'kind', kind, 'data', data)::text
            FROM dashboard_timeline
            WHERE session_id = \(session) AND position > \(after) AND (\(kinds)::text[] IS NULL OR kind = ANY(\(kinds)::text[]))
            ORDER BY position LIMIT \(min(max(limit, 1), 20_000))
            """, logger: store.logger)
        return try await Self.decode(rows, as: TimelineEntry.self)
    }

    /// Recent refusals and moderation actions, newest first.
    public func activity(kind: String? = nil, channel: String? = nil, limit: Int = 100) async throws -> [ActivityEntry] {
        let rows = try await store.readModels.query(
            """
            SELECT jsonb_build_object('position', position, 'at', \(unescaped: Self.date("at")), 'kind', kind, 'eventType', event_type,
                                      'channel', channel, 'actor', actor, 'reason', reason, 'data', data)::text
            FROM dashboard_activity
            WHERE (\(kind)::text IS NULL OR kind = \(kind)) AND (\(channel)::text IS NULL OR channel = \(channel))
            ORDER BY position DESC LIMIT \(min(max(limit, 1), 1_000))
            """, logger: store.logger)
        return try await Self.decode(rows, as: ActivityEntry.self)
    }

    private func sessions(where condition: String, bind: String? = nil, limit: Int) async throws -> [Session] {
        var query = PostgresQuery(
            unsafeSQL: """
                SELECT jsonb_build_object(
                    'sessionID', s.session_id, 'channelID', s.channel_id, 'channelName', s.channel_name, 'protocol', s.protocol,
                    'remoteAddress', s.remote_address, 'encoder', s.encoder, 'media', s.media,
                    'startedAt', \(Self.date("s.started_at")), 'endedAt', \(Self.date("s.ended_at")),
                    'endReason', s.end_reason, 'endDetail', s.end_detail, 'live', s.live,
                    'durationSeconds', extract(epoch FROM coalesce(s.ended_at, now()) - s.started_at),
                    'bitrate', s.bitrate, 'frameRate', s.frame_rate, 'sampledAt', \(Self.date("s.sampled_at")),
                    'quality', coalesce(s.quality, q.state), 'health', CASE WHEN s.live THEN q.health END,
                    'samples', s.samples, 'averageBitrate', s.bitrate_sum / nullif(s.samples, 0),
                    'averageFrameRate', s.frame_rate_sum / nullif(s.samples, 0), 'bytesReceived', s.bytes_received,
                    'droppedFrames', s.dropped_frames, 'lateFrames', s.late_frames, 'reconnects', s.reconnects,
                    'qualityChanges', s.quality_changes, 'renditions', s.renditions, 'viewers', s.viewers,
                    'peakViewers', s.peak_viewers, 'averageViewers', s.viewer_sum::double precision / nullif(s.viewer_samples, 0),
                    'qoe', s.qoe, 'chatMessages', s.chat_messages, 'moderationActions', s.moderation_actions,
                    'alerts', s.alerts)::text
                FROM dashboard_sessions s LEFT JOIN quality_sessions q ON q.session_id = s.session_id
                WHERE \(condition)
                ORDER BY s.started_at DESC LIMIT \(min(max(limit, 1), 1_000))
                """)
        if let bind { query.binds.append(bind) }
        let rows = try await store.readModels.query(query, logger: store.logger)
        return try await Self.decode(rows, as: Session.self)
    }

    /// A timestamp as the log's JSON writes it (UTC, milliseconds), or null.
    static func date(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    static func decode<T: Decodable>(_ rows: PostgresRowSequence, as type: T.Type) async throws -> [T] {
        let decoder = EventCoding.decoder()
        var values: [T] = []
        for try await text in rows.decode(String.self) {
            values.append(try decoder.decode(T.self, from: Data(text.utf8)))
        }
        return values
    }
}
