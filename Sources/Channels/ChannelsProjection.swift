import EventStore
import Foundation
import Logging
import PostgresNIO

/// The `channels` and `stream_keys` read models (migrations/0002).
public struct ChannelsProjection: SQLProjection {
    public let name = "channels"
    public let tables = ["channels", "stream_keys"]
    public let filter = EventFilter(streamPrefix: "channel-")

    public init() {}

    public func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        let actor = event.metadata.actor.description
        switch try ChannelEvent(event, registry: registry) {
        case .created(let created):
            try await connection.query(
                """
                INSERT INTO channels (channel_id, name, created_at, created_by) VALUES
                (\(created.channelId), \(created.name), \(event.recordedAt), \(actor))
                """, logger: logger)
        case .keyIssued(let issued):
            let hash = ByteBuffer(bytes: StreamKey.hashBytes(hex: issued.keyHash))
            try await connection.query(
                """
                INSERT INTO stream_keys (key_id, key_hash, channel_id, channel_name, issued_at, issued_by)
                SELECT \(issued.keyId), \(hash), channel_id, name, \(event.recordedAt), \(actor)
                FROM channels WHERE channel_id = \(issued.channelId)
                """, logger: logger)
            try await connection.query(
                "UPDATE channels SET active_key_id = \(issued.keyId) WHERE channel_id = \(issued.channelId)", logger: logger)
        case .keyRevoked(let revoked):
            try await connection.query(
                """
                UPDATE stream_keys SET revoked_at = \(event.recordedAt), revoked_by = \(actor), revoke_reason = \(event.metadata.reason)
                WHERE key_id = \(revoked.keyId)
                """, logger: logger)
            try await connection.query(
                "UPDATE channels SET active_key_id = NULL WHERE channel_id = \(revoked.channelId) AND active_key_id = \(revoked.keyId)",
                logger: logger)
        case nil:
            break
        }
    }
}
