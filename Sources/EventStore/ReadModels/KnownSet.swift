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
        let age = loadedAt.map { $0.duration(to: now) }
        if let age, age < maxAge, elements.contains(element) { return true }
        if let age, age < missInterval { return elements.contains(element) }
        try await reload()
        return elements.contains(element)
    }

    /// Marks the set stale, so the next lookup loads it (for a caller that knows it changed).
    public func invalidate() {
        loadedAt = nil
    }

    private func reload() async throws {
        if let loading {
            _ = try await loading.value
            return
        }
        let task = Task { [load] in try await load() }
        loading = task
        defer { loading = nil }
        let loaded = try await task.value
        elements = loaded
        loadedAt = .now
        loads += 1
    }
}
