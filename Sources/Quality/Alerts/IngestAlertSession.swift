import Foundation
import Ingest

/// One live session's ingest alerts, folded from its statistics in log order: per rule, met →
/// broken (counting) → raised → holding (counting) → met. A pure value: the row the ingest alerts
/// projection keeps, so the next window continues exactly where the last left off.
///
/// Time is the ingest's own: the sum of the sampled intervals (as for the quality machine), never
/// the events' recorded times, which a database stall bunches together.
public struct IngestAlertSession: Sendable, Hashable, Codable {
    public enum Transition: Sendable, Hashable {
        case raised(IngestAlert)
        case cleared(IngestAlertRule, durationSeconds: Double)
    }

    struct Open: Sendable, Hashable, Codable {
        var alert: IngestAlert
        /// `clock` at the raise.
        var raisedAt: Double
    }

    /// A rule's current run: seconds broken without a break (not raised), or seconds met without a
    /// break (raised).
    struct Run: Sendable, Hashable, Codable {
        var broken = 0.0
        var held = 0.0
    }

    public var sessionID: String
    public var channelID: String
    public private(set) var rules: IngestAlertRules
    /// Seconds of sampled intervals since the session started.
    private(set) var clock = 0.0
    private var runs: [String: Run] = [:]
    private var raised: [Open] = []

    /// Intervals never count for more than this (a stalled timer, a corrupt figure).
    static let maximumInterval = 60.0
    /// Timer jitter: five intervals of 0.999 s are five seconds.
    static let tolerance = 0.25

    public init(sessionID: String, channelID: String, rules: IngestAlertRules) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.rules = rules
    }

    /// The alerts raised and not cleared, in rule order.
    public var open: [IngestAlert] { raised.map(\.alert).sorted { $0.rule < $1.rule } }

    /// Judges one sampling interval; `time` is its event's recorded time (an alert's `since`).
    public mutating func sampled(_ stats: IngestStats, at time: Date) -> [Transition] {
        let interval = stats.intervalSeconds.isFinite ? Swift.min(Swift.max(stats.intervalSeconds, 0), Self.maximumInterval) : 0
        clock += interval
        var transitions: [Transition] = []
        for rule in IngestAlertRule.allCases {
            var run = runs[rule.rawValue] ?? Run()
            let index = raised.firstIndex { $0.alert.rule == rule }
            switch rules.judge(rule, stats) {
            case .off:
                run = Run()
                if let index { transitions.append(clear(at: index)) }
            case .unknown:
                break
            case .met:
                run.broken = 0
                if let index {
                    run.held += interval
                    if run.held >= rules.clearAfterSeconds - Self.tolerance {
                        transitions.append(clear(at: index))
                        run = Run()
                    }
                }
            case .broken(let measured, let limit, let message):
                run.held = 0
                if index == nil {
                    run.broken += interval
                    if run.broken >= rules.raiseAfterSeconds - Self.tolerance {
                        let alert = IngestAlert(rule: rule, measured: measured, limit: limit, message: message, since: time)
                        raised.append(Open(alert: alert, raisedAt: clock))
                        transitions.append(.raised(alert))
                        run = Run()
                    }
                }
            }
            runs[rule.rawValue] = run
        }
        return transitions
    }

    /// The encoder came back after a gap: nothing is known about the time between, so every rule's
    /// run starts again (raised alerts stay raised).
    public mutating func resumed() {
        runs = [:]
    }

    /// New rules from the next interval on; a raised rule that is now off clears then.
    public mutating func configure(_ rules: IngestAlertRules) {
        self.rules = rules
    }

    private mutating func clear(at index: Int) -> Transition {
        let open = raised.remove(at: index)
        let duration = ((clock - open.raisedAt) * 1000).rounded() / 1000
        return .cleared(open.alert.rule, durationSeconds: duration)
    }

    static func encode(_ session: IngestAlertSession) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(session), as: UTF8.self)
    }

    static func decode(_ text: String) throws -> IngestAlertSession {
        try JSONDecoder().decode(IngestAlertSession.self, from: Data(text.utf8))
    }
}
