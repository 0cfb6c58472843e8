import NIOCore
import Synchronization

/// Open connections overall and per address, for the caps in front of a listener, with room made
/// by closing quiet ones: when an address (or the server) is full, the new connection takes the
/// place of that address's (or anyone's) connection that has been doing nothing longest, as nginx
/// reuses idle keep-alive connections when it runs short. Only connections whose owner says nothing
/// is lost by closing them (an HTTP keep-alive between requests, an RTMP socket that never
/// published) and that have been quiet for `quiet` are taken; when none is, the new one is refused.
/// So a thousand idle sockets from one address never lock out that address's next real request,
/// and a publish or a request in progress is never cut for a stranger.
public final class ConnectionRoster: Sendable {
    public struct Limits: Sendable, Hashable {
        public var total: Int
        public var perAddress: Int
        /// How long a connection must have read and written nothing before it may be closed for
        /// another: longer than the pauses inside a response or a handshake.
        public var quiet: Duration

        public init(total: Int, perAddress: Int, quiet: Duration = .seconds(2)) {
            self.total = total
            self.perAddress = perAddress
            self.quiet = quiet
        }
    }

    public enum Admission: Sendable {
        case admitted(Entry)
        /// `inARow` counts this address's refusals since its last admitted connection, this one
        /// included, for sampled logging (`AddressConnectionCounts.shouldLog`).
        case refused(Refusal, inARow: Int)
    }

    public enum Refusal: Sendable, Equatable {
        case full
        case addressFull
    }

    /// One admitted connection. Its owner says when it may be closed for another and when it was
    /// last active; both are atomics, set from the connection's own event loop.
    public final class Entry: Sendable {
        public let host: String
        let id: UInt64
        let close: @Sendable () -> Void
        private let closable = Atomic<Bool>(false)
        private let lastActivity = Atomic<UInt64>(0)

        init(host: String, id: UInt64, now: NIODeadline, close: @escaping @Sendable () -> Void) {
            self.host = host
            self.id = id
            self.close = close
            lastActivity.store(now.uptimeNanoseconds, ordering: .relaxed)
        }

        /// Whether closing the connection now would lose nothing (no request, upgrade or publish
        /// in progress).
        public func setClosable(_ value: Bool) { closable.store(value, ordering: .relaxed) }

        public func touch(at now: NIODeadline = .now()) { lastActivity.store(now.uptimeNanoseconds, ordering: .relaxed) }

        func quietSince(_ cutoff: UInt64) -> UInt64? {
            guard closable.load(ordering: .relaxed) else { return nil }
            let last = lastActivity.load(ordering: .relaxed)
            return last <= cutoff ? last : nil
        }
    }

    private struct State {
        var nextID: UInt64 = 0
        var count = 0
        var byHost: [String: [UInt64: Entry]] = [:]
        var refusals: [String: Int] = [:]
        var fullRefusals = 0
    }

    public let limits: Limits
    private let state = Mutex(State())
    private let evictions = Atomic<Int>(0)

    public init(limits: Limits) {
        self.limits = limits
    }

    public var count: Int { state.withLock { $0.count } }
    public func count(from host: String) -> Int { state.withLock { $0.byHost[host]?.count ?? 0 } }
    /// Connections closed to make room for others, since start.
    public var evictionCount: Int { evictions.load(ordering: .relaxed) }

    /// Admits a connection from `host`, closing (through its `close`) a quiet one to make room when
    /// a limit is reached. `close` is how this connection is closed if it is later taken for another.
    public func admit(host: String, now: NIODeadline = .now(), close: @escaping @Sendable () -> Void) -> Admission {
        let cutoff = now.uptimeNanoseconds &- UInt64(clamping: TimeAmount(limits.quiet).nanoseconds)
        var victims: [Entry] = []
        let admission: Admission = state.withLock { state in
            if state.byHost[host, default: [:]].count >= limits.perAddress {
                guard let victim = Self.quietest(state.byHost[host]?.values, cutoff: cutoff) else {
                    return Self.refuse(.addressFull, host: host, state: &state)
                }
                Self.remove(victim, from: &state)
                victims.append(victim)
            }
            if state.count >= limits.total {
                guard let victim = Self.quietest(state.byHost.values.lazy.flatMap(\.values), cutoff: cutoff) else {
                    return Self.refuse(.full, host: host, state: &state)
                }
                Self.remove(victim, from: &state)
                victims.append(victim)
            }
            state.nextID &+= 1
            let entry = Entry(host: host, id: state.nextID, now: now, close: close)
            state.byHost[host, default: [:]][entry.id] = entry
            state.count += 1
            state.refusals[host] = nil
            state.fullRefusals = 0
            return .admitted(entry)
        }
        if !victims.isEmpty {
            evictions.add(victims.count, ordering: .relaxed)
            for victim in victims { victim.close() }
        }
        return admission
    }

    /// Forgets a closed connection; one already taken for another is not counted twice.
    public func remove(_ entry: Entry) {
        state.withLock { state in
            Self.remove(entry, from: &state)
            if state.byHost[entry.host] == nil { state.refusals[entry.host] = nil }
        }
    }

    private static func remove(_ entry: Entry, from state: inout State) {
        guard state.byHost[entry.host]?.removeValue(forKey: entry.id) != nil else { return }
        state.count -= 1
        if state.byHost[entry.host]?.isEmpty == true { state.byHost[entry.host] = nil }
    }

    private static func refuse(_ refusal: Refusal, host: String, state: inout State) -> Admission {
        switch refusal {
        case .full:
            state.fullRefusals += 1
            return .refused(.full, inARow: state.fullRefusals)
        case .addressFull:
            // Only an address with open connections is refused as full, so the counts stay bounded.
            let inARow = (state.refusals[host] ?? 0) + 1
            state.refusals[host] = inARow
            return .refused(.addressFull, inARow: inARow)
        }
    }

    private static func quietest<S: Sequence<Entry>>(_ entries: S?, cutoff: UInt64) -> Entry? {
        guard let entries else { return nil }
        var best: (entry: Entry, since: UInt64)?
        for entry in entries {
            guard let since = entry.quietSince(cutoff) else { continue }
            if best == nil || since < best!.since { best = (entry, since) }
        }
        return best?.entry
    }
}
