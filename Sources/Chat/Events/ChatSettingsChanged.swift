import EventStore

/// The room's whole settings after the change.
public struct ChatSettingsChanged: DomainEvent, Equatable {
    public static let eventType = "ChatSettingsChanged"
    public var channel: String
    public var settings: ChatSettings

    public init(channel: String, settings: ChatSettings) {
        self.channel = channel
        self.settings = settings
    }
}
