import EventStore
import Foundation
import Ingest
import Logging
import PostgresNIO
import Transcode

/// The `quality_sessions` and `quality_thresholds` read models (migrations/0005): runs the quality
/// machine of every live session over its `IngestStatsSampled` events, in log order.
///
/// Each row keeps the session's whole machine (`record`), so the next event continues exactly
/// where the last left off, across restarts, and a replay rebuilds identical rows. On the live
/// node (`publish` set) every transition is also appended as `QualityChanged` to the session's
/// stream, inside the page's transaction and with an id derived from the causing sample's id: a
/// page that is applied again (a crash before its checkpoint committed, a second node) appends
/// nothing new. A replay (`publish` nil) only rebuilds the tables.
public struct QualityProjection: SQLProjection {
    /// Appends events to a stream (`store.append(to:expectedVersion: .any, events:)`).
    public typealias Publisher = @Sendable (_ stream: String, _ events: [NewEvent]) async throws -> Void

    public let name = "quality"
    public let tables = ["quality_sessions", "quality_thresholds"]
    public static let inputTypes = [
        StreamStarted.eventType, StreamResumed.eventType, IngestStatsSampled.eventType, StreamEnded.eventType,
        QualitySettingsChanged.eventType,
    ]
    public let filter = EventFilter(types: QualityProjection.inputTypes)
    let publish: Publisher?

    public init(publish: Publisher? = nil) {
        self.publish = publish
    }

    /// The live node's projection: transitions go to `store`'s log.
    public static func live(_ store: EventStore) -> QualityProjection {
        QualityProjection { stream, events in
            _ = try await store.append(to: stream, expectedVersion: .any, events: events)
        }
    }

    public func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        switch event.eventType {
        case StreamStarted.eventType:
            let started = try registry.decode(event, as: StreamStarted.self)
            let thresholds = try await Self.thresholds(channelID: started.channelID, connection: connection, logger: logger)
            let session = QualitySession(started: started, at: event.recordedAt, thresholds: thresholds)
            let record = try QualitySession.encode(session)
            try await connection.query("""
                INSERT INTO quality_sessions (session_id, channel_id, state, level, since, health, live, updated_at, record)
                VALUES (\(session.sessionID), \(session.channelID), \(session.machine.state.rawValue), \(session.machine.level.rawValue),
                        \(event.recordedAt), \(session.machine.health), true, \(event.recordedAt), \(record)::jsonb)
                ON CONFLICT (session_id) DO NOTHING
                """, logger: logger)
        case IngestStatsSampled.eventType:
            let sampled = try registry.decode(event, as: IngestStatsSampled.self)
            guard var session = try await Self.load(sampled.sessionID, connection: connection, logger: logger) else { return }
            let transitions = session.sampled(sampled.stats)
            try await Self.save(session, at: event.recordedAt, connection: connection, logger: logger)
            if let publish, !transitions.isEmpty {
                try await publish("session-\(session.sessionID)", try Self.events(for: transitions, of: session, cause: event))
            }
        case StreamResumed.eventType:
            let resumed = try registry.decode(event, as: StreamResumed.self)
            guard var session = try await Self.load(resumed.sessionID, connection: connection, logger: logger) else { return }
            session.resumed(gapMilliseconds: resumed.gapMilliseconds)
            try await Self.save(session, at: event.recordedAt, connection: connection, logger: logger)
        case StreamEnded.eventType:
            let ended = try registry.decode(event, as: StreamEnded.self)
            try await connection.query(
                "UPDATE quality_sessions SET live = false, updated_at = \(event.recordedAt) WHERE session_id = \(ended.sessionID)",
                logger: logger)
        case QualitySettingsChanged.eventType:
            let changed = try registry.decode(event, as: QualitySettingsChanged.self)
            let thresholds = try EventCoding.encodeString(changed.thresholds)
            try await connection.query("""
                INSERT INTO quality_thresholds (channel_id, thresholds, configured_at)
                VALUES (\(changed.channelID), \(thresholds)::jsonb, \(event.recordedAt))
                ON CONFLICT (channel_id) DO UPDATE SET thresholds = EXCLUDED.thresholds, configured_at = EXCLUDED.configured_at
                """, logger: logger)
            var ids: [String] = []
            for try await id in try await connection.query(
                "SELECT session_id FROM quality_sessions WHERE channel_id = \(changed.channelID) AND live ORDER BY session_id",
                logger: logger
            ).decode(String.self) {
                ids.append(id)
            }
            for id in ids {
                guard var session = try await Self.load(id, connection: connection, logger: logger) else { continue }
                session.machine.configure(changed.thresholds)
                try await Self.save(session, at: event.recordedAt, connection: connection, logger: logger)
            }
        default:
            break
        }
    }

    /// The `QualityChanged` events of `transitions`, with ids derived from the cause.
    static func events(for transitions: [QualityTransition], of session: QualitySession, cause: RecordedEvent) throws -> [NewEvent] {
        let metadata = EventMetadata(
            actor: .system("quality"), correlationId: cause.metadata.correlationId, causationId: cause.eventId)
        return try transitions.enumerated().map { index, transition in
            try NewEvent(
                QualityChanged(sessionID: session.sessionID, channelID: session.channelID, transition: transition),
                metadata: metadata, eventId: QualityEventID.derive(cause: cause.eventId, index: index))
        }
    }

    static func thresholds(channelID: String, connection: PostgresConnection, logger: Logger) async throws -> QualityThresholds {
        for try await text in try await connection.query(
            "SELECT thresholds::text FROM quality_thresholds WHERE channel_id = \(channelID)", logger: logger
        ).decode(String.self) {
            return try EventCoding.decoder().decode(QualityThresholds.self, from: Data(text.utf8))
        }
        return .default
    }

    static func load(_ sessionID: String, connection: PostgresConnection, logger: Logger) async throws -> QualitySession? {
        for try await text in try await connection.query(
            "SELECT record::text FROM quality_sessions WHERE session_id = \(sessionID) AND live", logger: logger
        ).decode(String.self) {
            return try QualitySession.decode(text)
        }
        return nil
    }

    static func save(_ session: QualitySession, at time: Date, connection: PostgresConnection, logger: Logger) async throws {
        let record = try QualitySession.encode(session)
        try await connection.query("""
            UPDATE quality_sessions SET state = \(session.machine.state.rawValue), level = \(session.machine.level.rawValue),
                since = \(session.since), health = \(session.machine.health), updated_at = \(time),
                record = \(record)::jsonb
            WHERE session_id = \(session.sessionID)
            """, logger: logger)
    }
}
