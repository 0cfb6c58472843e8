import EventStore

extension EventRegistry {
    public mutating func registerIngestAlertEvents() {
        register(IngestAlertRaised.self)
        register(IngestAlertCleared.self)
        register(IngestAlertRulesConfigured.self)
    }
}
