import Foundation

/// Decides which refused publish attempts are logged one by one and which are only counted, so
/// strangers cannot grow the append-only log: per address and window, the first `allowance`
/// refusals are recorded; the rest, and every refusal during a lock-out, are counted and come out
/// as one summary per address when the window ends. A pure value type; time is passed in.
public struct RefusalSummarizer: Sendable {
    public struct Policy: Sendable, Hashable {
        /// Refusals per address and window that are recorded individually.
        public var allowance: Int
        public var window: Duration
        /// Refusals per window recorded individually over all addresses, so many addresses cannot
        /// add `allowance` rows each without bound.
        public var globalAllowance: Int
        /// Addresses tracked at once; refusals from further addresses are counted under `*`.
        public var capacity: Int
        /// Refusals per channel and window recorded individually (in the channel's stream), so
        /// many addresses trying a channel's revoked key cannot flood its history.
        public var channelAllowance: Int

        public init(
            allowance: Int = 10, window: Duration = .seconds(60), globalAllowance: Int = 600, capacity: Int = 10_000,
            channelAllowance: Int = 20
        ) {
            self.allowance = allowance
            self.window = window
            self.globalAllowance = globalAllowance
            self.capacity = capacity
            self.channelAllowance = channelAllowance
        }
    }

    public enum Decision: Sendable, Hashable {
        case record
        case counted
    }

    public struct Summary: Sendable, Hashable {
        public var address: String
        public var count: Int
        public var reasons: [String: Int]
        public var windowStart: Date
        public var windowEnd: Date
    }

    /// The key refusals from untracked addresses are counted under.
    public static let overflowAddress = "*"

    private struct Window: Sendable {
        var opened: ContinuousClock.Instant
        var openedAt: Date
        var recorded = 0
        var counted: [String: Int] = [:]
    }

    public let policy: Policy
    private var windows: [String: Window] = [:]
    private var global: (opened: ContinuousClock.Instant, recorded: Int)?
    /// Refusals recorded per channel in its current window (at most `capacity` channels).
    private var channels: [String: (opened: ContinuousClock.Instant, recorded: Int)] = [:]

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    public var trackedAddresses: Int { windows.count }

    /// One refused attempt, about `channel` when it names one. `summariseOnly` refusals (an
    /// address already locked out) are never recorded individually.
    public mutating func refusal(
        from address: String, reason: String, channel: String? = nil, summariseOnly: Bool = false, now: ContinuousClock.Instant,
        wallClock: Date
    ) -> Decision {
        var key = address
        if windows[key] == nil, windows.count >= policy.capacity { key = Self.overflowAddress }
        var window = windows[key] ?? Window(opened: now, openedAt: wallClock)
        defer { windows[key] = window }
        var global = self.global.flatMap { $0.opened.duration(to: now) < policy.window ? $0 : nil } ?? (opened: now, recorded: 0)
        defer { self.global = global }
        var channelWindow = channel.flatMap { channels[$0] }.flatMap { $0.opened.duration(to: now) < policy.window ? $0 : nil }
        if let channel, channelWindow == nil {
            if channels.count >= policy.capacity { channels = channels.filter { $0.value.opened.duration(to: now) < policy.window } }
            if channels.count < policy.capacity || channels[channel] != nil { channelWindow = (opened: now, recorded: 0) }
        }
        let channelRoom = channel == nil || (channelWindow.map { $0.recorded < policy.channelAllowance } ?? false)
        if !summariseOnly, key != Self.overflowAddress, window.recorded < policy.allowance, global.recorded < policy.globalAllowance,
            channelRoom
        {
            window.recorded += 1
            global.recorded += 1
            if let channel, var channelWindow {
                channelWindow.recorded += 1
                channels[channel] = channelWindow
            }
            return .record
        }
        window.counted[reason, default: 0] += 1
        return .counted
    }

    /// Closes the windows that have run their length: a summary for each that counted anything.
    public mutating func due(now: ContinuousClock.Instant, wallClock: Date) -> [Summary] {
        var summaries: [Summary] = []
        for (address, window) in windows where window.opened.duration(to: now) >= policy.window {
            windows[address] = nil
            if let summary = Self.summary(address, window, wallClock: wallClock) { summaries.append(summary) }
        }
        return summaries.sorted { $0.address < $1.address }
    }

    /// Closes every window (at shutdown): nothing counted is lost.
    public mutating func flush(wallClock: Date) -> [Summary] {
        defer { windows = [:] }
        return windows.compactMap { Self.summary($0.key, $0.value, wallClock: wallClock) }.sorted { $0.address < $1.address }
    }

    private static func summary(_ address: String, _ window: Window, wallClock: Date) -> Summary? {
        let count = window.counted.values.reduce(0, +)
        guard count > 0 else { return nil }
        return Summary(address: address, count: count, reasons: window.counted, windowStart: window.openedAt, windowEnd: wallClock)
    }
}
