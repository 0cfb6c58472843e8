import Foundation
import Transcode

/// The quality machine of every session, folded over the log in order: the one rule that both the
/// `quality` projection and the audit apply. A pure value.
///
/// The projection keeps its state in PostgreSQL: for each event it loads the part the event
/// touches (`sessions`, `ended`, `thresholds`), applies it here, and stores what `Change` says.
/// The audit keeps the whole fold in memory over the log.
struct QualityFold: Sendable {
    /// Live sessions by id.
    var sessions: [String: QualitySession] = [:]
    /// Sessions already started once (live or ended): a second `StreamStarted` changes nothing.
    var known: Set<String> = []
    /// Channels' thresholds by channel id; channels not here run on the defaults.
    var thresholds: [String: QualityThresholds] = [:]

    enum Change: Sendable {
        case none
        case opened(QualitySession)
        case updated(QualitySession, transitions: [QualityTransition])
        case closed(sessionID: String)
        /// The channel's new thresholds and its live sessions, reconfigured.
        case configured(channelID: String, QualityThresholds, sessions: [QualitySession])
    }

    mutating func apply(_ input: QualityInput) -> Change {
        switch input {
        case .started(let started, let time):
            guard known.insert(started.sessionID).inserted else { return .none }
            let session = QualitySession(started: started, at: time, thresholds: thresholds[started.channelID] ?? .default)
            sessions[started.sessionID] = session
            return .opened(session)
        case .sampled(let sampled):
            guard var session = sessions[sampled.sessionID] else { return .none }
            // A window's intervals in order: the machine sees each one as if it had its own event.
            var transitions: [QualityTransition] = []
            for interval in sampled.intervals { transitions += session.sampled(interval) }
            sessions[sampled.sessionID] = session
            return .updated(session, transitions: transitions)
        case .resumed(let resumed):
            guard var session = sessions[resumed.sessionID] else { return .none }
            session.resumed(gapMilliseconds: resumed.gapMilliseconds)
            sessions[resumed.sessionID] = session
            return .updated(session, transitions: [])
        case .ended(let ended):
            sessions[ended.sessionID] = nil
            return .closed(sessionID: ended.sessionID)
        case .configured(let changed):
            thresholds[changed.channelID] = changed.thresholds
            var changedSessions: [QualitySession] = []
            for id in sessions.keys.sorted() where sessions[id]?.channelID == changed.channelID {
                sessions[id]?.machine.configure(changed.thresholds)
                if let session = sessions[id] { changedSessions.append(session) }
            }
            return .configured(channelID: changed.channelID, changed.thresholds, sessions: changedSessions)
        }
    }
}
