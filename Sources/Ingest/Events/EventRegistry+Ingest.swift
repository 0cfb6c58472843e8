import EventStore

extension EventRegistry {
    public mutating func registerIngestEvents() {
        register(PublishRejected.self)
        register(PublishLockedOut.self)
        register(PublishRefusalsSummarised.self)
        register(StreamStarted.self)
        register(StreamResumed.self)
        register(IngestStatsSampled.self)
        register(StreamEnded.self)
    }
}
