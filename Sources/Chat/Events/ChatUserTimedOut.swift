import EventStore
import Foundation

public struct ChatUserTimedOut: DomainEvent, Equatable {
    public static let eventType = "ChatUserTimedOut"
    public var channel: String
    public var userId: String
    public var seconds: Int
    public var until: Date

    public init(channel: String, userId: String, seconds: Int, until: Date) {
        self.channel = channel
        self.userId = userId
        self.seconds = seconds
        self.until = until
    }
}
