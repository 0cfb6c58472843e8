import EventStore

extension EventRegistry {
    public mutating func registerIngestEvents() {
        register(PublishRejected.self)
        register(PublishLockedOut.self)
        register(PublishRefusalsSummarised.self)
        register(StreamStarted.self)
        register(StreamResumed.self)
        register(IngestStatsSampled.self)
        registerUpcaster(IngestStatsSampled.eventType, from: 1) { try IngestStatsSampled.upcastFromVersion1($0) }
        register(StreamEnded.self)
        register(InputSwitched.self)
        register(SlateStarted.self)
        register(SlateEnded.self)
    }
}
