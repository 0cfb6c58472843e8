import Synchronization

/// The players of every live session this node serves (`SessionQoE` each), by session id, with
/// the latest session of each channel. Bounded: at most `maxSessions`, the one updated longest
/// ago making room for a new one.
public final class QoETracker: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var maxSessions: Int
        public var players: SessionQoE.Limits

        public init(maxSessions: Int = 256, players: SessionQoE.Limits = SessionQoE.Limits()) {
            self.maxSessions = maxSessions
            self.players = players
        }
    }

    private struct State {
        var sessions: [String: SessionQoE] = [:]
        var latest: [String: String] = [:]
    }

    public let configuration: Configuration
    private let state = Mutex(State())

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Folds a report with a `sid` into its player's record on live session `session` of `channel`;
    /// a report without one describes no player and is left out (false).
    @discardableResult
    public func record(_ report: CMCDReport, session: String, channel: String, now: ContinuousClock.Instant = .now) -> Bool {
        guard let player = report.sessionID else { return false }
        let (maxSessions, limits) = (configuration.maxSessions, configuration.players)
        return state.withLock { state in
            if state.sessions[session] == nil {
                if state.sessions.count >= maxSessions, let oldest = state.sessions.min(by: { $0.value.lastUpdate < $1.value.lastUpdate }) {
                    state.sessions[oldest.key] = nil
                    if state.latest[oldest.value.channel] == oldest.key { state.latest[oldest.value.channel] = nil }
                }
                state.sessions[session] = SessionQoE(channel: channel, limits: limits, now: now)
            }
            state.latest[channel] = session
            return state.sessions[session]!.record(report, player: player, now: now)
        }
    }

    /// The session and channel a player (its `sid`) was last seen on, if one is tracked.
    public func session(ofPlayer player: String) -> (session: String, channel: String)? {
        state.withLock { state in
            state.sessions.filter { $0.value.tracks(player: player) }.max { $0.value.lastUpdate < $1.value.lastUpdate }
                .map { ($0.key, $0.value.channel) }
        }
    }

    public func summary(session: String) -> QoESummary? {
        state.withLock { $0.sessions[session]?.summary() }
    }

    /// The QoE of the channel's latest live session with CMCD reports.
    public func summary(channel: String) -> QoESummary? {
        state.withLock { state in state.latest[channel].flatMap { state.sessions[$0]?.summary() } }
    }
}
