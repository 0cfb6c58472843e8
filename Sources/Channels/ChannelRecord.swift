import EventStore
import Foundation
import Logging
import PostgresNIO
import Synchronization

public struct ChannelRecord: Sendable, Hashable, Codable {
    public var id: UUID
    public var name: String
    public var createdAt: Date
    public var createdBy: String
    /// Whether the channel has a key that is not revoked.
    public var hasActiveKey: Bool
}
