import EventStore

/// A refusal by any rule but plain rate limiting (those are only counted). Schema 2 seals the
/// name, the text and the refusal's detail (which may quote the text) under the author's key.
public struct ChatMessageRejected: DomainEvent, Equatable {
    public static let eventType = "ChatMessageRejected"
    public static let schemaVersion = 2

    public struct Personal: Codable, Sendable, Hashable {
        public var name: String
        public var text: String
        public var detail: String

        public init(name: String, text: String, detail: String) {
            self.name = name
            self.text = text
            self.detail = detail
        }
    }

    public var channel: String
    public var userId: String
    public var rule: String
    public var personal: PersonalData<Personal>

    public init(channel: String, userId: String, rule: String, personal: PersonalData<Personal>) {
        self.channel = channel
        self.userId = userId
        self.rule = rule
        self.personal = personal
    }

    public static func context(userId: String) -> String { "\(eventType)|\(userId)" }
}
