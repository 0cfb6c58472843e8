/// The clients that fetched a live session's playlists or media recently, with when each was last
/// seen: a pure value (time is passed in) and bounded. `ViewerTracker` keeps one per shard.
///
/// A client is a viewer while its last fetch is less than the session's window old. Expired
/// clients stay until a sweep (`sweepIfDue`, or one forced by a cap) removes them, so recording a
/// fetch is one dictionary write.
public struct ViewerWindow: Sendable {
    public struct Limits: Sendable, Hashable {
        /// Clients tracked per session at most.
        public var perSession: Int
        /// Clients tracked over all sessions at most.
        public var total: Int

        public init(perSession: Int, total: Int) {
            self.perSession = perSession
            self.total = total
        }
    }

    public enum Outcome: Sendable, Hashable {
        /// A client not tracked before.
        case added
        /// A client already tracked, seen again.
        case refreshed
        /// Not tracked: a cap is reached with every tracked client still a viewer.
        case dropped
    }

    /// A session's live count after a sweep, with its channel.
    public struct Count: Sendable, Hashable {
        public var channel: String
        public var viewers: Int

        public init(channel: String, viewers: Int) {
            self.channel = channel
            self.viewers = viewers
        }
    }

    struct Session {
        var channel: String
        var window: Duration
        var lastSeen: [ViewerID: ContinuousClock.Instant]
    }

    public let limits: Limits
    private var sessions: [String: Session] = [:]
    /// Clients tracked over all sessions, expired ones not yet swept included.
    public private(set) var tracked = 0
    /// Fetches from clients that were not tracked because of a cap.
    public private(set) var dropped = 0
    private var lastSweep: ContinuousClock.Instant?
    private var lastCapSweep: ContinuousClock.Instant?

    public init(limits: Limits) {
        self.limits = limits
    }

    /// Notes a fetch by `viewer` of session `session`'s playlists or media, at `now`. `window` is
    /// how long a fetch keeps the client a viewer (it depends on the session's segment target).
    public mutating func record(
        _ viewer: ViewerID, session: String, channel: String, window: Duration, now: ContinuousClock.Instant
    ) -> Outcome {
        if sessions[session]?.lastSeen[viewer] != nil {
            sessions[session]!.lastSeen[viewer] = now
            return .refreshed
        }
        if isFull(session) {
            // At a cap, expired clients make room; a sweep costs a pass over the shard, so at
            // most one a second while a cap holds.
            guard lastCapSweep.map({ $0.duration(to: now) >= .seconds(1) }) ?? true else {
                dropped += 1
                return .dropped
            }
            lastCapSweep = now
            _ = removeExpired(now: now)
            guard !isFull(session) else {
                dropped += 1
                return .dropped
            }
        }
        if sessions[session] == nil {
            sessions[session] = Session(channel: channel, window: window, lastSeen: [:])
        }
        sessions[session]!.window = window
        sessions[session]!.lastSeen[viewer] = now
        tracked += 1
        return .added
    }

    private func isFull(_ session: String) -> Bool {
        tracked >= limits.total || (sessions[session]?.lastSeen.count ?? 0) >= limits.perSession
    }

    /// The viewers of `session` at `now`.
    public func viewers(session: String, now: ContinuousClock.Instant) -> Int {
        guard let entry = sessions[session] else { return 0 }
        return entry.lastSeen.values.count { $0.duration(to: now) < entry.window }
    }

    /// Removes expired clients, and sessions left without any; the live count of every session
    /// that was tracked (0 for one just removed).
    public mutating func sweep(now: ContinuousClock.Instant) -> [String: Count] {
        lastSweep = now
        return removeExpired(now: now)
    }

    private mutating func removeExpired(now: ContinuousClock.Instant) -> [String: Count] {
        var counts: [String: Count] = [:]
        for key in Array(sessions.keys) {
            guard let entry = sessions[key] else { continue }
            let expired = entry.lastSeen.compactMap { $0.value.duration(to: now) >= entry.window ? $0.key : nil }
            if expired.count == entry.lastSeen.count {
                sessions[key] = nil
            } else {
                for id in expired { sessions[key]!.lastSeen[id] = nil }
            }
            tracked -= expired.count
            counts[key] = Count(channel: entry.channel, viewers: entry.lastSeen.count - expired.count)
        }
        return counts
    }

    /// `sweep(now:)` when the last one is `interval` old or more; else nil.
    public mutating func sweepIfDue(now: ContinuousClock.Instant, interval: Duration) -> [String: Count]? {
        if let lastSweep, lastSweep.duration(to: now) < interval { return nil }
        return sweep(now: now)
    }
}
