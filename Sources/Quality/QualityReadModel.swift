import EventStore
import Foundation
import PostgresNIO
import Transcode

/// Reads of the quality projection (`quality_sessions`) and the command that sets a channel's
/// thresholds.
public struct QualityReadModel: Sendable {
    public struct Row: Sendable, Hashable, Codable {
        public var sessionID: String
        public var channelID: String
        public var state: QualityState
        /// The level whose renditions are on (the one RECOVERY probes from).
        public var level: QualityState
        public var since: Date
        public var health: Int
        public var live: Bool
    }

    public struct InvalidThresholds: Error, CustomStringConvertible {
        public var problems: [String]
        public var description: String { "the quality thresholds cannot be used: \(problems.joined(separator: "; "))" }
    }

    let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    /// Rows of these sessions (lowercased UUIDs) that the projection has seen.
    public func sessions(_ ids: [String]) async throws -> [String: Row] {
        guard !ids.isEmpty else { return [:] }
        var rows: [String: Row] = [:]
        for try await (id, channel, state, level, since, health, live) in try await store.readModels.query(
            """
            SELECT session_id, channel_id, state, level, since, health, live FROM quality_sessions WHERE session_id = ANY(\(ids))
            """, logger: store.logger
        ).decode((String, String, String, String, Date, Int, Bool).self) {
            guard let state = QualityState(rawValue: state), let level = QualityState(rawValue: level) else { continue }
            rows[id] = Row(sessionID: id, channelID: channel, state: state, level: level, since: since, health: health, live: live)
        }
        return rows
    }

    public func session(_ id: String) async throws -> Row? {
        try await sessions([id])[id]
    }

    /// The thresholds set for a channel (its id as a lowercased UUID); nil while it runs on the defaults.
    public func thresholds(channelID: String) async throws -> QualityThresholds? {
        for try await text in try await store.readModels.query(
            "SELECT thresholds::text FROM quality_thresholds WHERE channel_id = \(channelID)", logger: store.logger
        ).decode(String.self) {
            return try EventCoding.decoder().decode(QualityThresholds.self, from: Data(text.utf8))
        }
        return nil
    }

    /// Sets a channel's thresholds: `QualitySettingsChanged` on `channel-NAME`. Live sessions of the
    /// channel use them from their next sample.
    public func configure(channelID: String, channelName: String, thresholds: QualityThresholds, metadata: EventMetadata) async throws {
        let problems = thresholds.problems
        guard problems.isEmpty else { throw InvalidThresholds(problems: problems) }
        _ = try await store.append(
            QualitySettingsChanged(channelID: channelID, thresholds: thresholds), to: "channel-\(channelName)",
            metadata: metadata)
    }
}
