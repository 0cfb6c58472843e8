import EventStore

/// A refusal by any rule but plain rate limiting (those are only counted).
public struct ChatMessageRejected: DomainEvent, Equatable {
    public static let eventType = "ChatMessageRejected"
    public var channel: String
    public var userId: String
    public var name: String
    public var text: String
    public var rule: String
    public var detail: String

    public init(channel: String, userId: String, name: String, text: String, rule: String, detail: String) {
        self.channel = channel
        self.userId = userId
        self.name = name
        self.text = text
        self.rule = rule
        self.detail = detail
    }
}
