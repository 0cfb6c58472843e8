import EventStore
import Foundation

extension EventRegistry {
    public mutating func registerPackagerEvents() {
        register(SegmentPublished.self)
        registerUpcaster(SegmentPublished.eventType, from: 1) { try SegmentPublished.upcastFromVersion1($0) }
        register(RecordingFinalized.self)
        register(RecordingDeleted.self)
        register(PlaybackConfigured.self)
    }
}
