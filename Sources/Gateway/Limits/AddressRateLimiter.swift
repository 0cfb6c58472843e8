import Media

/// Token buckets per remote address: `burst` at once, then one per `interval`. A pure value type;
/// time is passed in. Tracks at most `capacity` addresses: full buckets are forgotten first, and
/// when every tracked address is still limited, new addresses share one bucket.
public struct AddressRateLimiter: Sendable {
    public let burst: Int
    public let interval: Duration
    public let capacity: Int
    private var buckets: [String: Bucket] = [:]

    private struct Bucket: Sendable {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    static let sharedKey = "*"

    public init(burst: Int, interval: Duration, capacity: Int = 100_000) {
        self.burst = max(1, burst)
        self.interval = interval
        self.capacity = capacity
    }

    public var trackedAddresses: Int { buckets.count }

    /// Takes one token for `address`: nil when allowed, else how long until the next one.
    public mutating func take(_ address: String, now: ContinuousClock.Instant) -> Duration? {
        var key = address
        if buckets[key] == nil, buckets.count >= capacity {
            sweep(now: now)
            if buckets.count >= capacity { key = Self.sharedKey }
        }
        var bucket = refilled(buckets[key] ?? Bucket(tokens: Double(burst), updated: now), now: now)
        defer { buckets[key] = bucket }
        guard bucket.tokens >= 1 else {
            let seconds = (1 - bucket.tokens) * interval.inSeconds
            return .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        bucket.tokens -= 1
        return nil
    }

    private func refilled(_ bucket: Bucket, now: ContinuousClock.Instant) -> Bucket {
        let elapsed = bucket.updated.duration(to: now).inSeconds
        guard elapsed > 0, interval > .zero else { return bucket }
        return Bucket(tokens: min(Double(burst), bucket.tokens + elapsed / interval.inSeconds), updated: now)
    }

    private mutating func sweep(now: ContinuousClock.Instant) {
        buckets = buckets.filter { refilled($0.value, now: now).tokens < Double(burst) }
    }
}
