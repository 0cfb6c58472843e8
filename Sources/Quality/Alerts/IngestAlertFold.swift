import EventStore
import Foundation
import Ingest

/// The ingest alerts of every session, folded over the log in order (a pure value). The projection
/// loads the part an event touches from its tables, applies it here, and stores what `Change` says;
/// tests keep the whole fold in memory.
struct IngestAlertFold: Sendable {
    /// One event the fold reads, decoded once.
    enum Input: Sendable {
        case started(StreamStarted)
        case sampled(IngestStatsSampled, at: Date)
        case resumed(StreamResumed)
        case ended(StreamEnded)
        case configured(IngestAlertRulesConfigured)

        static let eventTypes = [
            StreamStarted.eventType, StreamResumed.eventType, IngestStatsSampled.eventType, StreamEnded.eventType,
            IngestAlertRulesConfigured.eventType,
        ]

        /// nil for any other type; one of these types that does not decode throws.
        init?(_ event: RecordedEvent, registry: EventRegistry) throws {
            switch event.eventType {
            case StreamStarted.eventType: self = .started(try registry.decode(event, as: StreamStarted.self))
            case IngestStatsSampled.eventType:
                self = .sampled(try registry.decode(event, as: IngestStatsSampled.self), at: event.recordedAt)
            case StreamResumed.eventType: self = .resumed(try registry.decode(event, as: StreamResumed.self))
            case StreamEnded.eventType: self = .ended(try registry.decode(event, as: StreamEnded.self))
            case IngestAlertRulesConfigured.eventType: self = .configured(try registry.decode(event, as: IngestAlertRulesConfigured.self))
            default: return nil
            }
        }
    }

    enum Change: Sendable {
        case none
        case opened(IngestAlertSession)
        case updated(IngestAlertSession, transitions: [IngestAlertSession.Transition])
        /// The session ended; its open alerts end with it.
        case closed(sessionID: String)
        case configured(channelID: String, IngestAlertRules, sessions: [IngestAlertSession])
    }

    /// Live sessions by id.
    var sessions: [String: IngestAlertSession] = [:]
    /// Sessions started once (live or ended): a second `StreamStarted` changes nothing.
    var known: Set<String> = []
    /// Channels' rules by channel id; channels not here run on the defaults.
    var rules: [String: IngestAlertRules] = [:]

    mutating func apply(_ input: Input) -> Change {
        switch input {
        case .started(let started):
            guard known.insert(started.sessionID).inserted else { return .none }
            let session = IngestAlertSession(
                sessionID: started.sessionID, channelID: started.channelID, rules: rules[started.channelID] ?? .default)
            sessions[started.sessionID] = session
            return .opened(session)
        case .sampled(let sampled, let time):
            guard var session = sessions[sampled.sessionID] else { return .none }
            var transitions: [IngestAlertSession.Transition] = []
            for interval in sampled.intervals { transitions += session.sampled(interval, at: time) }
            sessions[sampled.sessionID] = session
            return .updated(session, transitions: transitions)
        case .resumed(let resumed):
            guard var session = sessions[resumed.sessionID] else { return .none }
            session.resumed()
            sessions[resumed.sessionID] = session
            return .updated(session, transitions: [])
        case .ended(let ended):
            sessions[ended.sessionID] = nil
            return .closed(sessionID: ended.sessionID)
        case .configured(let configured):
            rules[configured.channelID] = configured.rules
            var changed: [IngestAlertSession] = []
            for id in sessions.keys.sorted() where sessions[id]?.channelID == configured.channelID {
                sessions[id]?.configure(configured.rules)
                if let session = sessions[id] { changed.append(session) }
            }
            return .configured(channelID: configured.channelID, configured.rules, sessions: changed)
        }
    }
}
