import EventStore

public struct ChatModeratorAdded: DomainEvent, Equatable {
    public static let eventType = "ChatModeratorAdded"
    public var channel: String
    public var userId: String

    public init(channel: String, userId: String) {
        self.channel = channel
        self.userId = userId
    }
}
