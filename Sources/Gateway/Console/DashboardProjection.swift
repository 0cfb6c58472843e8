import Chat
import EventStore
import Foundation
import Ingest
import Logging
import PostgresNIO
import Quality
import Transcode

/// The console's read models (migrations/0009): each session with its latest figures and running
/// totals, its timeline, and recent refusals and moderation actions. A function of the log alone,
/// so `streamd events replay --projection dashboard` rebuilds the same rows.
public struct DashboardProjection: SQLProjection {
    public let name = "dashboard"
    public let tables = ["dashboard_sessions", "dashboard_timeline", "dashboard_activity"]
    public let filter = EventFilter(types: DashboardProjection.inputTypes)

    static let moderationTypes = [
        ChatMessageDeleted.eventType, ChatUserTimedOut.eventType, ChatUserBanned.eventType, ChatUserUnbanned.eventType,
        ChatModeratorAdded.eventType, ChatModeratorRemoved.eventType, ChatSettingsChanged.eventType,
    ]
    static let refusalTypes = [PublishRejected.eventType, PublishRefusalsSummarised.eventType, PublishLockedOut.eventType]
    public static let inputTypes =
        [
            StreamStarted.eventType, IngestStatsSampled.eventType, StreamResumed.eventType, StreamEnded.eventType,
            QualityChanged.eventType, RenditionStarted.eventType, RenditionStopped.eventType, AudienceSampled.eventType,
            ChatMessagePosted.eventType, IngestAlertRaised.eventType, IngestAlertCleared.eventType,
        ] + moderationTypes + refusalTypes

    public init() {}

    public func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        let at = event.recordedAt
        switch event.eventType {
        case StreamStarted.eventType:
            let started = try registry.decode(event, as: StreamStarted.self)
            let media = try EventCoding.encodeString(MediaDescription(video: started.video, audio: started.audio))
            try await connection.query(
                """
                INSERT INTO dashboard_sessions (session_id, channel_id, channel_name, protocol, remote_address, encoder, media, started_at, live)
                VALUES (\(started.sessionID), \(started.channelID), \(started.channelName), \(started.protocol), \(started.remoteAddress),
                        \(started.encoder), \(media)::jsonb, \(at), true)
                ON CONFLICT (session_id) DO NOTHING
                """, logger: logger)
            try await timeline(event, session: started.sessionID, kind: "started", data: media, connection, logger)
        case IngestStatsSampled.eventType:
            let sampled = try registry.decode(event, as: IngestStatsSampled.self)
            let stats = sampled.stats
            // A window counts each of its intervals, as one event per interval did.
            let intervals = sampled.intervals
            let bitrateSum = intervals.reduce(0.0) { $0 + Double($1.receivedBitrate) }
            let frameRateSum = intervals.reduce(0.0) { $0 + $1.videoFrameRate }
            let dropped = sampled.window?.droppedFrames ?? stats.droppedFrames
            let late = sampled.window?.lateFrames ?? stats.lateFrames
            try await connection.query(
                """
                UPDATE dashboard_sessions SET bitrate = \(stats.receivedBitrate), frame_rate = \(stats.videoFrameRate), sampled_at = \(at),
                    samples = samples + \(intervals.count), bitrate_sum = bitrate_sum + \(bitrateSum),
                    frame_rate_sum = frame_rate_sum + \(frameRateSum), bytes_received = \(Int64(clamping: stats.bytesReceivedTotal)),
                    dropped_frames = dropped_frames + \(dropped), late_frames = late_frames + \(late)
                WHERE session_id = \(sampled.sessionID)
                """, logger: logger)
            try await timeline(
                event, session: sampled.sessionID, kind: "sample", data: try EventCoding.encodeString(stats), connection, logger)
        case StreamResumed.eventType:
            let resumed = try registry.decode(event, as: StreamResumed.self)
            try await connection.query(
                "UPDATE dashboard_sessions SET reconnects = reconnects + 1 WHERE session_id = \(resumed.sessionID)", logger: logger)
            try await timeline(
                event, session: resumed.sessionID, kind: "resumed", data: try EventCoding.encodeString(resumed), connection, logger)
        case StreamEnded.eventType:
            let ended = try registry.decode(event, as: StreamEnded.self)
            try await connection.query(
                """
                UPDATE dashboard_sessions SET live = false, ended_at = \(at), end_reason = \(ended.reason.rawValue), end_detail = \(ended.detail),
                    renditions = '{}', viewers = 0, alerts = '{}'
                WHERE session_id = \(ended.sessionID)
                """, logger: logger)
            try await timeline(
                event, session: ended.sessionID, kind: "ended", data: try EventCoding.encodeString(ended), connection, logger)
        case QualityChanged.eventType:
            let changed = try registry.decode(event, as: QualityChanged.self)
            try await connection.query(
                """
                UPDATE dashboard_sessions SET quality = \(changed.to.rawValue), quality_changes = quality_changes + 1
                WHERE session_id = \(changed.sessionID)
                """, logger: logger)
            try await timeline(
                event, session: changed.sessionID, kind: "quality", data: try EventCoding.encodeString(changed), connection, logger)
        case IngestAlertRaised.eventType:
            let raised = try registry.decode(event, as: IngestAlertRaised.self)
            let data = try EventCoding.encodeString(raised)
            // A raise the projection appended after the session's end (it lags the log) opens nothing.
            try await connection.query(
                """
                UPDATE dashboard_sessions SET alerts = alerts || jsonb_build_object(\(raised.rule.rawValue)::text, \(data)::jsonb)
                WHERE session_id = \(raised.sessionID) AND live
                """, logger: logger)
            try await timeline(event, session: raised.sessionID, kind: "alert", data: data, connection, logger)
        case IngestAlertCleared.eventType:
            let cleared = try registry.decode(event, as: IngestAlertCleared.self)
            try await connection.query(
                "UPDATE dashboard_sessions SET alerts = alerts - \(cleared.rule.rawValue)::text WHERE session_id = \(cleared.sessionID)",
                logger: logger)
            try await timeline(
                event, session: cleared.sessionID, kind: "alert", data: try EventCoding.encodeString(cleared), connection, logger)
        case RenditionStarted.eventType:
            guard let session = Self.session(of: event) else { return }
            let started = try registry.decode(event, as: RenditionStarted.self)
            let data = try EventCoding.encodeString(started)
            try await connection.query(
                """
                UPDATE dashboard_sessions SET renditions = renditions || jsonb_build_object(\(started.rendition)::text, \(data)::jsonb)
                WHERE session_id = \(session)
                """, logger: logger)
            try await timeline(event, session: session, kind: "rendition", data: data, connection, logger)
        case RenditionStopped.eventType:
            guard let session = Self.session(of: event) else { return }
            let stopped = try registry.decode(event, as: RenditionStopped.self)
            try await connection.query(
                "UPDATE dashboard_sessions SET renditions = renditions - \(stopped.rendition)::text WHERE session_id = \(session)",
                logger: logger)
            try await timeline(event, session: session, kind: "rendition", data: try EventCoding.encodeString(stopped), connection, logger)
        case AudienceSampled.eventType:
            let sampled = try registry.decode(event, as: AudienceSampled.self)
            let qoe = try sampled.qoe.map { try EventCoding.encodeString($0) }
            try await connection.query(
                """
                UPDATE dashboard_sessions SET viewers = \(sampled.viewers), peak_viewers = greatest(peak_viewers, \(sampled.viewers)),
                    viewer_samples = viewer_samples + 1, viewer_sum = viewer_sum + \(sampled.viewers), qoe = coalesce(\(qoe)::jsonb, qoe)
                WHERE session_id = \(sampled.sessionID) AND live
                """, logger: logger)
            try await timeline(
                event, session: sampled.sessionID, kind: "audience", data: try EventCoding.encodeString(sampled), connection, logger)
        case ChatMessagePosted.eventType:
            let posted = try registry.decode(event, as: ChatMessagePosted.self)
            try await connection.query(
                "UPDATE dashboard_sessions SET chat_messages = chat_messages + 1 WHERE channel_name = \(posted.channel) AND live",
                logger: logger)
        case let type where Self.moderationTypes.contains(type):
            let decoded = try registry.decode(event)
            let channel = (decoded as? any ChatRoomFact)?.room
            try await activity(
                event, kind: "moderation", channel: channel, data: try EventCoding.encodeString(AnyEncodable(decoded)), connection, logger)
            if let channel {
                try await connection.query(
                    "UPDATE dashboard_sessions SET moderation_actions = moderation_actions + 1 WHERE channel_name = \(channel) AND live",
                    logger: logger)
            }
        case let type where Self.refusalTypes.contains(type):
            let decoded = try registry.decode(event)
            try await activity(
                event, kind: "refusal", channel: nil, data: try EventCoding.encodeString(AnyEncodable(decoded)), connection, logger)
        default:
            break
        }
    }

    /// The session of an event appended to a session's stream (`session-ID`).
    static func session(of event: RecordedEvent) -> String? {
        event.streamId.hasPrefix("session-") ? String(event.streamId.dropFirst("session-".count)) : nil
    }

    private func timeline(
        _ event: RecordedEvent, session: String, kind: String, data: String, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO dashboard_timeline (session_id, position, at, kind, data)
            VALUES (\(session), \(event.position), \(event.recordedAt), \(kind), \(data)::jsonb)
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    private func activity(
        _ event: RecordedEvent, kind: String, channel: String?, data: String, _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO dashboard_activity (position, at, kind, event_type, channel, actor, reason, data)
            VALUES (\(event.position), \(event.recordedAt), \(kind), \(event.eventType), \(channel), \(event.metadata.actor.description),
                    \(event.metadata.reason), \(data)::jsonb)
            ON CONFLICT DO NOTHING
            """, logger: logger)
    }

    struct MediaDescription: Encodable {
        var video: StreamDescription.Video?
        var audio: StreamDescription.Audio?
    }

    struct AnyEncodable: Encodable {
        let value: any Encodable
        init(_ value: any Encodable) { self.value = value }
        func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
    }
}

/// A chat event's room, for the moderation feed.
protocol ChatRoomFact { var room: String { get } }
extension ChatMessageDeleted: ChatRoomFact { var room: String { channel } }
extension ChatUserTimedOut: ChatRoomFact { var room: String { channel } }
extension ChatUserBanned: ChatRoomFact { var room: String { channel } }
extension ChatUserUnbanned: ChatRoomFact { var room: String { channel } }
extension ChatModeratorAdded: ChatRoomFact { var room: String { channel } }
extension ChatModeratorRemoved: ChatRoomFact { var room: String { channel } }
extension ChatSettingsChanged: ChatRoomFact { var room: String { channel } }
