import Foundation
import Ingest
import Transcode

/// One session's quality, folded from its events in log order: the row the quality projection
/// keeps, and what the audit recomputes. A pure value.
///
/// The machine's clock is the ingest's own measurement: `StreamStarted`'s recorded time plus every
/// sample's interval (plus the gap a `StreamResumed` reports). Recorded times of samples are not
/// used: a database stall would bunch them together, while the intervals are what the ingest
/// measured on a monotonic clock.
struct QualitySession: Sendable, Hashable, Codable {
    var sessionID: String
    var channelID: String
    var machine: QualityStateMachine
    var inputs: QualityInputs
    /// Seconds since the reference date.
    var clock: Double

    /// Samples never claim more than this (a stalled timer, a corrupt figure).
    static let maximumInterval = 60.0

    init(started: StreamStarted, at time: Date, thresholds: QualityThresholds) {
        sessionID = started.sessionID
        channelID = started.channelID
        machine = QualityStateMachine(thresholds: thresholds)
        inputs = QualityInputs(started: started)
        clock = time.timeIntervalSinceReferenceDate
    }

    mutating func sampled(_ stats: IngestStats) -> [QualityTransition] {
        let interval = stats.intervalSeconds.isFinite ? Swift.min(Swift.max(stats.intervalSeconds, 0), Self.maximumInterval) : 0
        clock += interval
        let figures = inputs.figures(for: stats)
        return machine.observe(QualitySample(time: Date(timeIntervalSinceReferenceDate: clock), duration: interval, figures: figures))
    }

    mutating func resumed(gapMilliseconds: Int) {
        clock += Swift.min(Swift.max(Double(gapMilliseconds) / 1000, 0), 86_400)
        inputs.reconnected()
        machine.restartWindows()
    }

    var since: Date { machine.stateSince ?? Date(timeIntervalSinceReferenceDate: clock) }

    static func encode(_ session: QualitySession) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(session), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> QualitySession {
        try JSONDecoder().decode(QualitySession.self, from: Data(text.utf8))
    }
}
