/// Membership in a set that lives in the database (channel names, recorded sessions), answered from
/// memory so a stranger asking for random names or ids costs no query each: the set is reloaded
/// at most once per `missInterval` when a lookup misses (one load at a time, shared by every
/// caller waiting on it) and at least every `maxAge`.
public actor KnownSet<Element: Hashable & Sendable> {
    private let load: @Sendable () async throws -> Set<Element>
    private let missInterval: Duration
    private let maxAge: Duration
    private var elements: Set<Element> = []
    private var loadedAt: ContinuousClock.Instant?
    private var loading: Task<Set<Element>, any Error>?
    private var loadStartedAt: ContinuousClock.Instant?
    public private(set) var loads = 0

    public init(
        missInterval: Duration = .seconds(2), maxAge: Duration = .seconds(30), load: @escaping @Sendable () async throws -> Set<Element>
    ) {
        self.load = load
        self.missInterval = missInterval
        self.maxAge = maxAge
    }

    public func contains(_ element: Element) async throws -> Bool {
        let now = ContinuousClock.now
        if let loadedAt, loadedAt.duration(to: now) < maxAge, elements.contains(element) { return true }
        // A miss is answered by a load that began after this lookup (the set comes from a
        // projection that may lag the log: a channel whose viewers join its chat at once must be
        // found), and loads begin at most once per `missInterval`, so a flood of misses shares them.
        if let loadStartedAt, loadStartedAt > now {
            try await reload()
            return elements.contains(element)
        }
        if let loadStartedAt, loadStartedAt.duration(to: now) < missInterval {
            try await Task.sleep(until: loadStartedAt + missInterval)
        }
        if let loadStartedAt, loadStartedAt > now {
            try await reload()
        } else {
            try await reload(fresh: true)
        }
        return elements.contains(element)
    }

    /// Marks the set stale, so the next lookup loads it (for a caller that knows it changed).
    public func invalidate() {
        loadedAt = nil
    }

    /// Waits for the load in flight, or starts one; `fresh` waits out a load in flight that began
    /// earlier and then starts another.
    private func reload(fresh: Bool = false) async throws {
        if let loading {
            _ = try? await loading.value
            if !fresh { return }
            if self.loading != nil {
                try await reload()
                return
            }
        }
        let task = Task { [load] in try await load() }
        loading = task
        loadStartedAt = .now
        defer { loading = nil }
        let loaded = try await task.value
        elements = loaded
        loadedAt = .now
        loads += 1
    }
}
