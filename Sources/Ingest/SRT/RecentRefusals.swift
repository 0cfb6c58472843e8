/// The callers refused in the last few seconds, by remote address and stream id.
///
/// libsrt runs the listen callback again when a caller retransmits its conclusion handshake (the
/// refusal did not reach it in time, as on a loaded machine); answered anew, one connection attempt
/// would count twice against the address's failed-key limit and log `PublishRejected` twice. A
/// repeat within `window` gets the first answer's reject reason and nothing else. A new attempt
/// comes from a new UDP socket, so from another port, and is decided afresh.
struct RecentRefusals: Sendable {
    let window: Duration
    /// Past this many remembered attempts (a flood of distinct callers), the oldest half is
    /// forgotten: the memory stays bounded, and a forgotten repeat is only counted twice.
    let capacity: Int
    private var entries: [String: (code: Int32, at: ContinuousClock.Instant)] = [:]

    init(window: Duration = .seconds(5), capacity: Int = 4_096) {
        self.window = window
        self.capacity = max(capacity, 2)
    }

    static func attempt(remote: String, streamID: String?) -> String { "\(remote) \(streamID ?? "")" }

    /// The reject reason already given to this attempt, if it was refused within the window.
    func repeated(_ attempt: String, now: ContinuousClock.Instant) -> Int32? {
        guard let entry = entries[attempt], entry.at.duration(to: now) < window else { return nil }
        return entry.code
    }

    mutating func record(_ attempt: String, code: Int32, now: ContinuousClock.Instant) {
        if entries.count >= capacity {
            entries = entries.filter { $0.value.at.duration(to: now) < window }
            if entries.count >= capacity {
                let newest = entries.sorted { $0.value.at > $1.value.at }.prefix(capacity / 2)
                entries = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
            }
        }
        entries[attempt] = (code, now)
    }

    var count: Int { entries.count }
}
