import EventStore
import Foundation

public struct ChannelCreated: DomainEvent, Equatable {
    public static let eventType = "ChannelCreated"
    public var channelId: UUID
    public var name: String

    public init(channelId: UUID, name: String) {
        self.channelId = channelId
        self.name = name
    }
}
