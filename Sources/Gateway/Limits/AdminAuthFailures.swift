import EventStore
import Foundation
import Synchronization

/// Wrong admin tokens per address: after `maxFailures` within `window`, the address gets 429 for
/// `lockout`, whatever it sends. Each address's failures are recorded as one `AdminAuthRejected`
/// per window (its address and count, never what was sent): at the lockout, or once the window
/// has passed (looked for at most every 5 s, when an admin request comes). At most `capacity`
/// addresses are tracked; past it the oldest unlocked ones are forgotten.
public final class AdminAuthFailures: Sendable {
    public struct Policy: Sendable {
        public var maxFailures = 10
        public var window: Duration = .seconds(60)
        public var lockout: Duration = .seconds(300)
        public var capacity = 10_000
        public init() {}
    }

    private struct Entry {
        var windowStart: Date
        var windowStartInstant: ContinuousClock.Instant
        var count = 0
        var lockedUntil: ContinuousClock.Instant?
        /// The window's event went out with the lockout.
        var recorded = false
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var lastSweep = ContinuousClock.now
    }

    public let policy: Policy
    private let state = Mutex(State())
    /// Where the events go (the node's log; nil in tests of the middleware alone).
    private let record: (@Sendable (AdminAuthRejected) async -> Void)?

    public init(policy: Policy = Policy(), record: (@Sendable (AdminAuthRejected) async -> Void)?) {
        self.policy = policy
        self.record = record
    }

    /// How long `host` stays locked out, or nil when it may try.
    public func lockedOut(_ host: String, now: ContinuousClock.Instant = .now) -> Duration? {
        let due = state.withLock { state -> [AdminAuthRejected] in
            var due: [AdminAuthRejected] = []
            if state.lastSweep.duration(to: now) >= .seconds(5) {
                state.lastSweep = now
                for (address, entry) in state.entries where entry.windowStartInstant.duration(to: now) >= policy.window {
                    if entry.lockedUntil.map({ $0 > now }) == true { continue }
                    if !entry.recorded { due.append(event(address, entry, lockedOut: false)) }
                    state.entries.removeValue(forKey: address)
                }
            }
            return due
        }
        emit(due)
        return state.withLock { state in
            guard let until = state.entries[host]?.lockedUntil, until > now else { return nil }
            return now.duration(to: until)
        }
    }

    /// Counts a wrong token from `host`; returns the lockout it now serves, if any.
    @discardableResult
    public func failed(_ host: String, now: ContinuousClock.Instant = .now, wallClock: Date = Date()) -> Duration? {
        let (lockout, due) = state.withLock { state -> (Duration?, [AdminAuthRejected]) in
            var due: [AdminAuthRejected] = []
            var entry = state.entries[host] ?? Entry(windowStart: wallClock, windowStartInstant: now)
            if entry.windowStartInstant.duration(to: now) >= policy.window, entry.lockedUntil.map({ $0 > now }) != true {
                if !entry.recorded, entry.count > 0 { due.append(event(host, entry, lockedOut: false)) }
                entry = Entry(windowStart: wallClock, windowStartInstant: now)
            }
            entry.count += 1
            var lockout: Duration?
            if entry.count >= policy.maxFailures, entry.lockedUntil == nil {
                entry.lockedUntil = now + policy.lockout
                lockout = policy.lockout
                entry.recorded = true
                due.append(event(host, entry, lockedOut: true))
            }
            if state.entries[host] == nil, state.entries.count >= policy.capacity {
                let unlocked = state.entries.filter { $0.value.lockedUntil.map { $0 > now } != true }
                if let oldest = unlocked.min(by: { $0.value.windowStartInstant < $1.value.windowStartInstant }) {
                    state.entries.removeValue(forKey: oldest.key)
                }
            }
            state.entries[host] = entry
            return (lockout, due)
        }
        emit(due)
        return lockout
    }

    private func event(_ address: String, _ entry: Entry, lockedOut: Bool) -> AdminAuthRejected {
        AdminAuthRejected(
            remoteAddress: address, count: entry.count, windowStart: entry.windowStart,
            windowSeconds: Int(policy.window.components.seconds), lockoutSeconds: lockedOut ? Int(policy.lockout.components.seconds) : nil)
    }

    private func emit(_ events: [AdminAuthRejected]) {
        guard let record, !events.isEmpty else { return }
        Task { for event in events { await record(event) } }
    }
}

/// Wrong admin tokens from one address within a window (stream `admin-auth`): its address and how
/// many, never what was sent; `lockoutSeconds` when they locked the address out.
public struct AdminAuthRejected: DomainEvent, Hashable {
    public static let eventType = "AdminAuthRejected"
    public var remoteAddress: String
    public var count: Int
    public var windowStart: Date
    public var windowSeconds: Int
    public var lockoutSeconds: Int?
}
