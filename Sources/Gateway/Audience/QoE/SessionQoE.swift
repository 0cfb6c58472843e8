/// What the players of one live session experienced: for the session report and metrics.
public struct QoESummary: Sendable, Hashable, Codable {
    /// Players (CMCD session ids) seen since the session started.
    public var players: Int
    /// Of them, those still tracked one by one (seen within `SessionQoE.Limits.idleAfter`).
    public var activePlayers: Int
    /// Startup time over the players whose startup is known, milliseconds.
    public var startupMedianMs: Int?
    public var startupP90Ms: Int?
    /// Stalls over all players.
    public var rebuffers: Int
    /// Rebuffer time over watched time, summed over all players (`PlayerQoE`).
    public var rebufferRatio: Double?
    /// The mean over players of each one's mean `br`, kbps.
    public var averageBitrateKbps: Int?
    /// The mean over active players of each one's mean `bl`, milliseconds.
    public var averageBufferMs: Int?
    /// The mean over active players of each one's distance behind the live edge, milliseconds.
    public var liveEdgeMs: Int?
}

/// The players of one live session: each tracked by its CMCD `sid` while it is active, then folded
/// into totals, so a session of any length holds at most `Limits.maxPlayers` of them. A pure value;
/// time is passed in.
public struct SessionQoE: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maxPlayers: Int
        /// A player not heard from for this long is folded into the totals.
        public var idleAfter: Duration

        public init(maxPlayers: Int = 10_000, idleAfter: Duration = .seconds(120)) {
            self.maxPlayers = maxPlayers
            self.idleAfter = idleAfter
        }
    }

    static let retireInterval = Duration.seconds(10)
    static let startupSampleLimit = 4_096

    public let channel: String
    public let limits: Limits
    private var players: [String: PlayerQoE] = [:]
    private var retired = Totals()
    public private(set) var lastUpdate: ContinuousClock.Instant
    private var lastRetire: ContinuousClock.Instant
    /// Reports of new players not tracked because `maxPlayers` active ones were.
    public private(set) var dropped = 0

    public init(channel: String, limits: Limits = Limits(), now: ContinuousClock.Instant) {
        self.channel = channel
        self.limits = limits
        lastUpdate = now
        lastRetire = now
    }

    public func tracks(player: String) -> Bool { players[player] != nil }

    /// Folds a report of player `player` in; false when it was not tracked (the session is full).
    @discardableResult
    public mutating func record(_ report: CMCDReport, player: String, now: ContinuousClock.Instant) -> Bool {
        lastUpdate = now
        if lastRetire.duration(to: now) >= Self.retireInterval { retireIdle(now: now) }
        if players[player] != nil {
            players[player]!.fold(report, at: now)
            return true
        }
        if players.count >= limits.maxPlayers, lastRetire.duration(to: now) >= .seconds(1) { retireIdle(now: now) }
        guard players.count < limits.maxPlayers else {
            dropped += 1
            return false
        }
        var new = PlayerQoE(firstSeen: now)
        new.fold(report, at: now)
        players[player] = new
        return true
    }

    /// Folds the players idle for `limits.idleAfter` into the totals.
    public mutating func retireIdle(now: ContinuousClock.Instant) {
        lastRetire = now
        for (id, player) in players where player.lastSeen.duration(to: now) >= limits.idleAfter {
            retired.add(player)
            players[id] = nil
        }
    }

    public func summary() -> QoESummary {
        var totals = retired
        var active = Totals()
        for player in players.values {
            totals.add(player)
            active.add(player)
        }
        let startups = totals.startups.sorted()
        return QoESummary(
            players: totals.players, activePlayers: players.count, startupMedianMs: Self.percentile(startups, 0.5),
            startupP90Ms: Self.percentile(startups, 0.9), rebuffers: totals.rebuffers,
            rebufferRatio: totals.watchedTime > .zero ? min(1, totals.rebufferTime.seconds / totals.watchedTime.seconds) : nil,
            averageBitrateKbps: totals.bitrate.mean, averageBufferMs: active.buffer.mean, liveEdgeMs: active.liveEdge.mean)
    }

    /// The nearest-rank percentile of sorted values.
    static func percentile(_ sorted: [Int], _ fraction: Double) -> Int? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count, max(1, rank)) - 1]
    }

    struct Mean {
        var total = 0
        var count = 0
        mutating func add(_ value: Int?) {
            guard let value else { return }
            total += value
            count += 1
        }
        var mean: Int? { count > 0 ? total / count : nil }
    }

    /// Players folded together; startup times kept as a uniform sample of at most
    /// `startupSampleLimit` (reservoir sampling), so percentiles stay bounded in memory.
    struct Totals {
        var players = 0
        var startups: [Int] = []
        var startupsSeen = 0
        var rebuffers = 0
        var rebufferTime = Duration.zero
        var watchedTime = Duration.zero
        var bitrate = Mean()
        var buffer = Mean()
        var liveEdge = Mean()

        mutating func add(_ player: PlayerQoE) {
            players += 1
            rebuffers += player.rebuffers
            rebufferTime += player.rebufferTime
            watchedTime += player.watchedTime
            bitrate.add(player.averageBitrate)
            buffer.add(player.averageBufferLength)
            liveEdge.add(player.liveEdgeDistance)
            guard let startup = player.startupTime else { return }
            let milliseconds = Int(startup.components.seconds * 1000 + startup.components.attoseconds / 1_000_000_000_000_000)
            startupsSeen += 1
            if startups.count < SessionQoE.startupSampleLimit {
                startups.append(milliseconds)
            } else {
                let slot = Int.random(in: 0..<startupsSeen)
                if slot < startups.count { startups[slot] = milliseconds }
            }
        }
    }
}
