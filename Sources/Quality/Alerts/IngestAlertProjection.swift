import EventStore
import Foundation
import Ingest
import Logging
import PostgresNIO

/// The `ingest_alert_sessions` and `ingest_alert_rules` read models (migrations/0019): judges every
/// live session's `IngestStatsSampled` windows, interval by interval, against its channel's rules
/// (`IngestAlertSession`), in log order.
///
/// It works as the quality projection does. Each row keeps the session's whole state (`record`),
/// so a restart or a replay continues exactly. On the live node (`publish` set) every raise and
/// clear is appended to the session's stream as its own commit before the page's transaction,
/// caused by the statistics, with an id derived from theirs: a page applied again (a crash before
/// its checkpoint, or another node's runner: they take pages in turn under the checkpoint's row
/// lock) appends nothing new, so in a cluster each session is judged once whichever node ingests it.
public struct IngestAlertProjection: SQLProjection {
    public typealias Publisher = @Sendable (_ stream: String, _ events: [NewEvent]) async throws -> Void

    public let name = "ingest-alerts"
    public let tables = ["ingest_alert_sessions", "ingest_alert_rules"]
    public static let inputTypes = IngestAlertFold.Input.eventTypes
    public let filter = EventFilter(types: IngestAlertProjection.inputTypes)
    let publish: Publisher?

    public init(publish: Publisher? = nil) {
        self.publish = publish
    }

    /// The live node's projection: raises and clears go to `store`'s log.
    public static func live(_ store: EventStore) -> IngestAlertProjection {
        IngestAlertProjection { stream, events in
            _ = try await store.append(to: stream, expectedVersion: .any, events: events)
        }
    }

    public func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        guard let input = try IngestAlertFold.Input(event, registry: registry) else { return }
        var fold = try await Self.load(for: input, connection: connection, logger: logger)
        switch fold.apply(input) {
        case .none:
            break
        case .opened(let session):
            try await connection.query(
                """
                INSERT INTO ingest_alert_sessions (session_id, channel_id, live, open, updated_at, record)
                VALUES (\(session.sessionID), \(session.channelID), true, '[]'::jsonb, \(event.recordedAt),
                        \(try IngestAlertSession.encode(session))::jsonb)
                ON CONFLICT (session_id) DO NOTHING
                """, logger: logger)
        case .updated(let session, let transitions):
            try await Self.save(session, at: event.recordedAt, connection: connection, logger: logger)
            if let publish, !transitions.isEmpty {
                try await publish("session-\(session.sessionID)", try Self.events(for: transitions, of: session, cause: event))
            }
        case .closed(let sessionID):
            try await connection.query(
                "UPDATE ingest_alert_sessions SET live = false, open = '[]'::jsonb, updated_at = \(event.recordedAt) WHERE session_id = \(sessionID)",
                logger: logger)
        case .configured(let channelID, let rules, let sessions):
            try await connection.query(
                """
                INSERT INTO ingest_alert_rules (channel_id, rules, configured_at)
                VALUES (\(channelID), \(try EventCoding.encodeString(rules))::jsonb, \(event.recordedAt))
                ON CONFLICT (channel_id) DO UPDATE SET rules = EXCLUDED.rules, configured_at = EXCLUDED.configured_at
                """, logger: logger)
            for session in sessions {
                try await Self.save(session, at: event.recordedAt, connection: connection, logger: logger)
            }
        }
    }

    /// The part of the fold's state that `input` reads, from the tables.
    static func load(for input: IngestAlertFold.Input, connection: PostgresConnection, logger: Logger) async throws -> IngestAlertFold {
        var fold = IngestAlertFold()
        switch input {
        case .started(let started):
            for try await _ in try await connection.query(
                "SELECT 1 FROM ingest_alert_sessions WHERE session_id = \(started.sessionID)", logger: logger
            ) {
                fold.known.insert(started.sessionID)
            }
            fold.rules[started.channelID] = try await rules(channelID: started.channelID, connection: connection, logger: logger)
        case .sampled(let sampled, _):
            fold.sessions[sampled.sessionID] = try await load(sampled.sessionID, connection: connection, logger: logger)
        case .resumed(let resumed):
            fold.sessions[resumed.sessionID] = try await load(resumed.sessionID, connection: connection, logger: logger)
        case .ended:
            break
        case .configured(let configured):
            for try await text in try await connection.query(
                "SELECT record::text FROM ingest_alert_sessions WHERE channel_id = \(configured.channelID) AND live ORDER BY session_id",
                logger: logger
            ).decode(String.self) {
                let session = try IngestAlertSession.decode(text)
                fold.sessions[session.sessionID] = session
            }
        }
        return fold
    }

    /// The events of `transitions`, caused by `cause`, with ids derived from it.
    static func events(
        for transitions: [IngestAlertSession.Transition], of session: IngestAlertSession, cause: RecordedEvent
    ) throws -> [NewEvent] {
        let metadata = EventMetadata.caused(by: cause, actor: .system("ingest-alerts"))
        return try transitions.enumerated().map { index, transition in
            let id = QualityEventID.derive(cause: cause.eventId, index: index, namespace: "ingest-alert")
            switch transition {
            case .raised(let alert):
                return try NewEvent(
                    IngestAlertRaised(
                        sessionID: session.sessionID, channelID: session.channelID, rule: alert.rule, measured: alert.measured,
                        limit: alert.limit, message: alert.message),
                    metadata: metadata, eventId: id)
            case .cleared(let rule, let duration):
                return try NewEvent(
                    IngestAlertCleared(sessionID: session.sessionID, channelID: session.channelID, rule: rule, durationSeconds: duration),
                    metadata: metadata, eventId: id)
            }
        }
    }

    static func rules(channelID: String, connection: PostgresConnection, logger: Logger) async throws -> IngestAlertRules {
        let query: PostgresQuery = "SELECT rules::text FROM ingest_alert_rules WHERE channel_id = \(channelID)"
        guard let text = try await connection.firstText(query, logger: logger) else { return .default }
        return try EventCoding.decoder().decode(IngestAlertRules.self, from: Data(text.utf8))
    }

    static func load(_ sessionID: String, connection: PostgresConnection, logger: Logger) async throws -> IngestAlertSession? {
        let query: PostgresQuery = "SELECT record::text FROM ingest_alert_sessions WHERE session_id = \(sessionID) AND live"
        return try await connection.firstText(query, logger: logger).map { text throws in try IngestAlertSession.decode(text) }
    }

    static func save(_ session: IngestAlertSession, at time: Date, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            """
            UPDATE ingest_alert_sessions SET open = \(try EventCoding.encodeString(session.open))::jsonb, updated_at = \(time),
                record = \(try IngestAlertSession.encode(session))::jsonb
            WHERE session_id = \(session.sessionID)
            """, logger: logger)
    }
}
