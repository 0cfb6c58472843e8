import EventStore
import Foundation
import Ingest
import Logging
import PostgresNIO
import Transcode

/// The `quality_sessions` and `quality_thresholds` read models (migrations/0006): runs the quality
/// machine of every live session over its `IngestStatsSampled` windows (each interval of a window
/// in turn), in log order, through
/// `QualityFold` (the rule the audit applies too).
///
/// Each row keeps the session's whole machine (`record`), so the next event continues exactly
/// where the last left off, across restarts, and a replay rebuilds identical rows. On the live
/// node (`publish` set) every transition is also appended as `QualityChanged` to the session's
/// stream. That append is its own commit, made before the page's transaction (and its checkpoint)
/// commits, with an id derived from the causing sample's id: a page that is applied again (a crash
/// before its checkpoint committed, a second node) appends nothing new. A replay (`publish` nil)
/// only rebuilds the tables.
public struct QualityProjection: SQLProjection {
    /// Appends events to a stream (`store.append(to:expectedVersion: .any, events:)`).
    public typealias Publisher = @Sendable (_ stream: String, _ events: [NewEvent]) async throws -> Void

    public let name = "quality"
    public let tables = ["quality_sessions", "quality_thresholds"]
    public static let inputTypes = QualityInput.eventTypes
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
        guard let input = try QualityInput(event, registry: registry) else { return }
        var fold = try await Self.load(for: input, connection: connection, logger: logger)
        switch fold.apply(input) {
        case .none:
            break
        case .opened(let session):
            let record = try QualitySession.encode(session)
            try await connection.query(
                """
                INSERT INTO quality_sessions (session_id, channel_id, state, level, since, health, live, updated_at, record)
                VALUES (\(session.sessionID), \(session.channelID), \(session.machine.state.rawValue), \(session.machine.level.rawValue),
                        \(event.recordedAt), \(session.machine.health), true, \(event.recordedAt), \(record)::jsonb)
                ON CONFLICT (session_id) DO NOTHING
                """, logger: logger)
        case .updated(let session, let transitions):
            try await Self.save(session, at: event.recordedAt, connection: connection, logger: logger)
            if let publish, !transitions.isEmpty {
                try await publish("session-\(session.sessionID)", try Self.events(for: transitions, of: session, cause: event))
            }
        case .closed(let sessionID):
            try await connection.query(
                "UPDATE quality_sessions SET live = false, updated_at = \(event.recordedAt) WHERE session_id = \(sessionID)",
                logger: logger)
        case .configured(let channelID, let thresholds, let sessions):
            let text = try EventCoding.encodeString(thresholds)
            try await connection.query(
                """
                INSERT INTO quality_thresholds (channel_id, thresholds, configured_at)
                VALUES (\(channelID), \(text)::jsonb, \(event.recordedAt))
                ON CONFLICT (channel_id) DO UPDATE SET thresholds = EXCLUDED.thresholds, configured_at = EXCLUDED.configured_at
                """, logger: logger)
            for session in sessions {
                try await Self.save(session, at: event.recordedAt, connection: connection, logger: logger)
            }
        }
    }

    /// The part of the fold's state that `input` reads, from the tables.
    static func load(for input: QualityInput, connection: PostgresConnection, logger: Logger) async throws -> QualityFold {
        var fold = QualityFold()
        switch input {
        case .started(let started, _):
            for try await _ in try await connection.query(
                "SELECT 1 FROM quality_sessions WHERE session_id = \(started.sessionID)", logger: logger
            ) {
                fold.known.insert(started.sessionID)
            }
            fold.thresholds[started.channelID] = try await thresholds(channelID: started.channelID, connection: connection, logger: logger)
        case .sampled(let sampled):
            fold.sessions[sampled.sessionID] = try await load(sampled.sessionID, connection: connection, logger: logger)
        case .resumed(let resumed):
            fold.sessions[resumed.sessionID] = try await load(resumed.sessionID, connection: connection, logger: logger)
        case .ended:
            break
        case .configured(let changed):
            for try await text in try await connection.query(
                "SELECT record::text FROM quality_sessions WHERE channel_id = \(changed.channelID) AND live ORDER BY session_id",
                logger: logger
            ).decode(String.self) {
                let session = try QualitySession.decode(text)
                fold.sessions[session.sessionID] = session
            }
        }
        return fold
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
        let query: PostgresQuery = "SELECT thresholds::text FROM quality_thresholds WHERE channel_id = \(channelID)"
        guard let text = try await connection.firstText(query, logger: logger) else { return .default }
        return try EventCoding.decoder().decode(QualityThresholds.self, from: Data(text.utf8))
    }

    static func load(_ sessionID: String, connection: PostgresConnection, logger: Logger) async throws -> QualitySession? {
        let query: PostgresQuery = "SELECT record::text FROM quality_sessions WHERE session_id = \(sessionID) AND live"
        return try await connection.firstText(query, logger: logger).map { text throws in try QualitySession.decode(text) }
    }

    static func save(_ session: QualitySession, at time: Date, connection: PostgresConnection, logger: Logger) async throws {
        let record = try QualitySession.encode(session)
        try await connection.query(
            """
            UPDATE quality_sessions SET state = \(session.machine.state.rawValue), level = \(session.machine.level.rawValue),
                since = \(session.since), health = \(session.machine.health), updated_at = \(time),
                record = \(record)::jsonb
            WHERE session_id = \(session.sessionID)
            """, logger: logger)
    }
}
