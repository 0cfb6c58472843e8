import EventStore

public struct ChatModeratorRemoved: DomainEvent, Equatable {
    public static let eventType = "ChatModeratorRemoved"
    public var channel: String
    public var userId: String

    public init(channel: String, userId: String) {
        self.channel = channel
        self.userId = userId
    }
}
