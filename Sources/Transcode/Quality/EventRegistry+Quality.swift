import EventStore

extension EventRegistry {
    public mutating func registerQualityEvents() {
        register(QualityChanged.self)
        register(QualitySettingsChanged.self)
    }
}
