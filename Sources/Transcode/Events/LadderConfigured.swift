import EventStore

/// A channel's ladder was set; the transcoder of the channel's next stream uses it.
public struct LadderConfigured: DomainEvent, Hashable {
    public static let eventType = "LadderConfigured"
    public var channel: String
    public var ladder: Ladder

    public init(channel: String, ladder: Ladder) {
        self.channel = channel
        self.ladder = ladder
    }
}

extension EventRegistry {
    public mutating func registerTranscodeEvents() {
        register(LadderConfigured.self)
        register(RenditionStarted.self)
        register(RenditionStopped.self)
        register(TranscodeFailed.self)
    }
}
