import EventStore

extension EventRegistry {
    public mutating func registerChannelEvents() {
        register(ChannelCreated.self)
        register(StreamKeyIssued.self)
        register(StreamKeyRevoked.self)
    }
}
