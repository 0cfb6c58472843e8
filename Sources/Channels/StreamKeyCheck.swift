import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// What a stream key is, as ingest must know before accepting media.
public enum StreamKeyCheck: Sendable, Hashable {
    case valid(channelId: UUID, channel: String)
    case revoked(channel: String, at: Date, by: String, reason: String?)
    case unknown
}
