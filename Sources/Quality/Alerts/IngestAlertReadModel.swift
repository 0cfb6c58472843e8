import EventStore
import Foundation
import PostgresNIO

/// Reads of the ingest alerts projection and the command that sets a channel's rules.
public struct IngestAlertReadModel: Sendable {
    /// A session's open alerts as the projection last left them.
    public struct Session: Sendable, Hashable, Codable {
        public var sessionID: String
        public var channelID: String
        public var live: Bool
        /// Empty once the session ended: its alerts end with it.
        public var open: [IngestAlert]
    }

    public struct InvalidRules: Error, CustomStringConvertible {
        public var problems: [String]
        public var description: String { "the ingest alert rules cannot be used: \(problems.joined(separator: "; "))" }
    }

    let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    /// Rows of these sessions (lowercased UUIDs) that the projection has seen.
    public func sessions(_ ids: [String]) async throws -> [String: Session] {
        guard !ids.isEmpty else { return [:] }
        var rows: [String: Session] = [:]
        let decoder = EventCoding.decoder()
        for try await (id, channel, live, open) in try await store.readModels.query(
            "SELECT session_id, channel_id, live, open::text FROM ingest_alert_sessions WHERE session_id = ANY(\(ids))",
            logger: store.logger
        ).decode((String, String, Bool, String).self) {
            let alerts = try decoder.decode([IngestAlert].self, from: Data(open.utf8))
            rows[id] = Session(sessionID: id, channelID: channel, live: live, open: alerts)
        }
        return rows
    }

    public func session(_ id: String) async throws -> Session? {
        try await sessions([id])[id]
    }

    /// The rules set for a channel (its id as a lowercased UUID); nil while it runs on the defaults.
    public func rules(channelID: String) async throws -> IngestAlertRules? {
        for try await text in try await store.readModels.query(
            "SELECT rules::text FROM ingest_alert_rules WHERE channel_id = \(channelID)", logger: store.logger
        ).decode(String.self) {
            return try EventCoding.decoder().decode(IngestAlertRules.self, from: Data(text.utf8))
        }
        return nil
    }

    /// Sets a channel's rules: `IngestAlertRulesConfigured` on `channel-NAME`. Live sessions of the
    /// channel are judged by them from their next sample.
    public func configure(channelID: String, channelName: String, rules: IngestAlertRules, metadata: EventMetadata) async throws {
        let problems = rules.problems
        guard problems.isEmpty else { throw InvalidRules(problems: problems) }
        _ = try await store.append(
            IngestAlertRulesConfigured(channelID: channelID, rules: rules), to: "channel-\(channelName)", metadata: metadata)
    }
}
