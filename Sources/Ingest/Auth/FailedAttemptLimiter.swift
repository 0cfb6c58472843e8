/// Per-address limit on failed stream-key attempts: after `maxFailures` within `window`, the
/// address is locked out for `lockout`. A pure value type; time is passed in.
public struct FailedAttemptLimiter: Sendable {
    public struct Policy: Sendable, Hashable {
        public var maxFailures: Int
        public var window: Duration
        public var lockout: Duration

        public init(maxFailures: Int = 5, window: Duration = .seconds(60), lockout: Duration = .seconds(300)) {
            self.maxFailures = maxFailures
            self.window = window
            self.lockout = lockout
        }
    }

    public struct Counters: Sendable, Hashable {
        public var failures = 0
        public var lockouts = 0
        /// Attempts refused because the address was locked out.
        public var refusedWhileLockedOut = 0
        public var addressesLockedOut = 0
    }

    public enum Verdict: Sendable, Hashable {
        case allowed
        case lockedOut(remaining: Duration)
    }

    private struct Entry: Sendable {
        var failures: [ContinuousClock.Instant] = []
        var lockedUntil: ContinuousClock.Instant?
    }

    public let policy: Policy
    /// Addresses tracked at most; the oldest are forgotten beyond this, so a flood cannot grow it.
    public let capacity: Int
    private var entries: [String: Entry] = [:]
    private var totals = Counters()

    public init(policy: Policy = Policy(), capacity: Int = 100_000) {
        self.policy = policy
        self.capacity = capacity
    }

    public mutating func check(_ address: String, now: ContinuousClock.Instant) -> Verdict {
        guard let until = entries[address]?.lockedUntil else { return .allowed }
        guard now < until else {
            entries[address] = nil
            return .allowed
        }
        totals.refusedWhileLockedOut += 1
        return .lockedOut(remaining: now.duration(to: until))
    }

    /// Records a failed attempt; returns the lock-out's length when this failure starts one.
    public mutating func recordFailure(_ address: String, now: ContinuousClock.Instant) -> Duration? {
        totals.failures += 1
        if entries[address] == nil, entries.count >= capacity { prune(now: now) }
        var entry = entries[address] ?? Entry()
        entry.failures = entry.failures.filter { $0.duration(to: now) < policy.window }
        entry.failures.append(now)
        var started: Duration?
        if entry.failures.count >= policy.maxFailures {
            entry.lockedUntil = now.advanced(by: policy.lockout)
            entry.failures = []
            totals.lockouts += 1
            started = policy.lockout
        }
        if entries.count < capacity || entries[address] != nil { entries[address] = entry }
        return started
    }

    public mutating func recordSuccess(_ address: String) {
        entries[address] = nil
    }

    public func counters(now: ContinuousClock.Instant) -> Counters {
        var counters = totals
        counters.addressesLockedOut = entries.values.count { ($0.lockedUntil ?? now) > now }
        return counters
    }

    private mutating func prune(now: ContinuousClock.Instant) {
        entries = entries.filter { _, entry in
            if let until = entry.lockedUntil { return until > now }
            return entry.failures.contains { $0.duration(to: now) < policy.window }
        }
    }
}
