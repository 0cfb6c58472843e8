import EventStore
import Foundation

extension EventRegistry {
    public mutating func registerPackagerEvents() {
        register(SegmentPublished.self)
        register(RecordingFinalized.self)
        register(RecordingDeleted.self)
        register(PlaybackConfigured.self)
    }
}
