import EventStore
import Foundation
import Ingest
import Transcode

/// One event the quality machine folds over, decoded once. `nil` from `init` for any other type;
/// an event of one of these types that does not decode throws (a schema or upcast bug), and the
/// caller says so instead of skipping it.
enum QualityInput: Sendable {
    case started(StreamStarted, at: Date)
    case sampled(IngestStatsSampled)
    case resumed(StreamResumed)
    case ended(StreamEnded)
    case configured(QualitySettingsChanged)

    static let eventTypes = [
        StreamStarted.eventType, StreamResumed.eventType, IngestStatsSampled.eventType, StreamEnded.eventType,
        QualitySettingsChanged.eventType,
    ]

    init?(_ event: RecordedEvent, registry: EventRegistry) throws {
        switch event.eventType {
        case StreamStarted.eventType: self = .started(try registry.decode(event, as: StreamStarted.self), at: event.recordedAt)
        case IngestStatsSampled.eventType: self = .sampled(try registry.decode(event, as: IngestStatsSampled.self))
        case StreamResumed.eventType: self = .resumed(try registry.decode(event, as: StreamResumed.self))
        case StreamEnded.eventType: self = .ended(try registry.decode(event, as: StreamEnded.self))
        case QualitySettingsChanged.eventType: self = .configured(try registry.decode(event, as: QualitySettingsChanged.self))
        default: return nil
        }
    }
}
