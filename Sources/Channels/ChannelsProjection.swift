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
        switch event.eventType {
        case ChannelCreated.eventType:
            let created = try registry.decode(event, as: ChannelCreated.self)
            try await connection.query("""
                INSERT INTO channels (channel_id, name, created_at, created_by) VALUES
                (\(created.channelId), \(created.name), \(event.recordedAt), \(actor))
                """, logger: logger)
        case StreamKeyIssued.eventType:
            let issued = try registry.decode(event, as: StreamKeyIssued.self)
            let hash = ByteBuffer(bytes: Self.bytes(hex: issued.keyHash))
            try await connection.query("""
                INSERT INTO stream_keys (key_id, key_hash, channel_id, channel_name, issued_at, issued_by)
                SELECT \(issued.keyId), \(hash), channel_id, name, \(event.recordedAt), \(actor)
                FROM channels WHERE channel_id = \(issued.channelId)
                """, logger: logger)
            try await connection.query(
                "UPDATE channels SET active_key_id = \(issued.keyId) WHERE channel_id = \(issued.channelId)", logger: logger)
        case StreamKeyRevoked.eventType:
            let revoked = try registry.decode(event, as: StreamKeyRevoked.self)
            try await connection.query("""
                UPDATE stream_keys SET revoked_at = \(event.recordedAt), revoked_by = \(actor), revoke_reason = \(event.metadata.reason)
                WHERE key_id = \(revoked.keyId)
                """, logger: logger)
            try await connection.query(
                "UPDATE channels SET active_key_id = NULL WHERE channel_id = \(revoked.channelId) AND active_key_id = \(revoked.keyId)",
                logger: logger)
        default:
            break
        }
    }

    static func bytes(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            guard let h = hexValue(high), let l = hexValue(low) else { return [] }
            bytes.append(h << 4 | l)
        }
        return bytes
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
