import Synchronization

/// Concurrent viewers per live session, estimated from playback requests (docs/architecture.md,
/// "Viewers"): the distinct clients (`ViewerID`) that fetched one of the session's playlists or
/// media files within its window, max(6 s, 3 × the segment target).
///
/// Recording a fetch is one hash and one dictionary write under the lock of one of `shards`
/// (chosen by the client's hash), so event loops rarely meet. Each shard removes its expired
/// clients at most once a second, lazily, on a fetch; reading the counts sweeps every shard. The
/// peak of a session is the largest count seen at those sweeps, so it can lag a rise by a second.
public final class ViewerTracker: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Clients tracked per session, and in all, at most; past them new clients are not counted.
        public var maxPerSession: Int
        public var maxTotal: Int
        /// A fetch keeps a client a viewer for max(`minimumWindow`, `segmentsInWindow` × segment target).
        public var minimumWindow: Duration
        public var segmentsInWindow: Int
        /// Sessions whose peak is kept after their last viewer left, at most.
        public var retainedSessions: Int

        public init(
            maxPerSession: Int = 100_000, maxTotal: Int = 1_000_000, minimumWindow: Duration = .seconds(6), segmentsInWindow: Int = 3,
            retainedSessions: Int = 1_024
        ) {
            self.maxPerSession = maxPerSession
            self.maxTotal = maxTotal
            self.minimumWindow = minimumWindow
            self.segmentsInWindow = segmentsInWindow
            self.retainedSessions = retainedSessions
        }
    }

    /// One session's viewers now and at most.
    public struct SessionViewers: Sendable, Hashable, Codable {
        public var session: String
        public var channel: String
        public var viewers: Int
        /// The most viewers seen at once since the session's first viewer.
        public var peak: Int

        public init(session: String, channel: String, viewers: Int, peak: Int) {
            self.session = session
            self.channel = channel
            self.viewers = viewers
            self.peak = peak
        }
    }

    static let shardCount = 16
    static let sweepInterval = Duration.seconds(1)

    public let configuration: Configuration
    private let shards: [Shard]
    private let tallies = Mutex(Tallies())

    private final class Shard: Sendable {
        let window: Mutex<ViewerWindow>
        init(limits: ViewerWindow.Limits) { window = Mutex(ViewerWindow(limits: limits)) }
    }

    /// Each shard's count of each session at its last sweep, and the session's peak.
    private struct Tallies {
        struct Tally {
            var channel: String
            var perShard: [Int]
            var peak = 0
            var updated: ContinuousClock.Instant
            var viewers: Int { perShard.reduce(0, +) }
        }
        var sessions: [String: Tally] = [:]
    }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        let limits = ViewerWindow.Limits(
            perSession: max(1, configuration.maxPerSession / Self.shardCount), total: max(1, configuration.maxTotal / Self.shardCount))
        shards = (0..<Self.shardCount).map { _ in Shard(limits: limits) }
    }

    /// How long a fetch keeps a client a viewer of a session cut into `segmentTarget`-second segments.
    public func window(segmentTarget: Double) -> Duration {
        max(configuration.minimumWindow, .milliseconds(Int64(segmentTarget * 1000) * Int64(configuration.segmentsInWindow)))
    }

    /// Notes a fetch of one of `session`'s playlists or media files by `viewer`.
    public func record(
        _ viewer: ViewerID, session: String, channel: String, window: Duration, now: ContinuousClock.Instant = .now
    ) {
        let index = Int(viewer.value % UInt64(Self.shardCount))
        let swept = shards[index].window.withLock { shard in
            _ = shard.record(viewer, session: session, channel: channel, window: window, now: now)
            return shard.sweepIfDue(now: now, interval: Self.sweepInterval)
        }
        if let swept { tally(shard: index, swept, now: now) }
    }

    /// Every session with a viewer or a peak still kept, after sweeping every shard.
    public func sessions(now: ContinuousClock.Instant = .now) -> [SessionViewers] {
        for (index, shard) in shards.enumerated() {
            tally(shard: index, shard.window.withLock { $0.sweep(now: now) }, now: now)
        }
        return tallies.withLock { tallies in
            tallies.sessions.map {
                SessionViewers(session: $0.key, channel: $0.value.channel, viewers: $0.value.viewers, peak: $0.value.peak)
            }
        }
    }

    /// One session's viewers (0 and no peak for a session nobody watched).
    public func viewers(session: String, now: ContinuousClock.Instant = .now) -> SessionViewers? {
        sessions(now: now).first { $0.session == session }
    }

    /// Viewers per channel now (channels without any left out).
    public func counts(now: ContinuousClock.Instant = .now) -> [String: Int] {
        var counts: [String: Int] = [:]
        for session in sessions(now: now) where session.viewers > 0 { counts[session.channel, default: 0] += session.viewers }
        return counts
    }

    /// Fetches not counted because a cap was reached.
    public var dropped: Int { shards.reduce(0) { $0 + $1.window.withLock { $0.dropped } } }

    private func tally(shard index: Int, _ counts: [String: ViewerWindow.Count], now: ContinuousClock.Instant) {
        let retained = configuration.retainedSessions
        tallies.withLock { tallies in
            for (session, count) in counts {
                var tally =
                    tallies.sessions[session]
                    ?? Tallies.Tally(channel: count.channel, perShard: Array(repeating: 0, count: Self.shardCount), updated: now)
                tally.perShard[index] = count.viewers
                tally.peak = max(tally.peak, tally.viewers)
                tally.updated = now
                tallies.sessions[session] = tally
            }
            guard tallies.sessions.count > retained else { return }
            // Forget the sessions nobody watches any more, longest quiet first.
            let quiet = tallies.sessions.filter { $0.value.viewers == 0 }.sorted { $0.value.updated < $1.value.updated }
            for (session, _) in quiet.prefix(tallies.sessions.count - retained) { tallies.sessions[session] = nil }
        }
    }
}
