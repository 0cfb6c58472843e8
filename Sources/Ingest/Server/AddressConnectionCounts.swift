/// Open connections per remote address, for a per-address cap: a pure value type the servers keep
/// behind a lock. Addresses with no open connection are forgotten, so it never holds more entries
/// than there are open sockets.
public struct AddressConnectionCounts: Sendable {
    public let limit: Int
    private var counts: [String: Int] = [:]
    /// Connections refused per address since its last accepted one, for sampled logging.
    private var refusals: [String: Int] = [:]

    public init(limit: Int) {
        self.limit = limit
    }

    public func count(for address: String) -> Int { counts[address] ?? 0 }

    public var addresses: Int { counts.count }

    /// Counts a new connection from `address` and says whether it is within the limit; a refused
    /// one is not counted (it is closed at once). `refusals` is how many in a row this address has
    /// had refused, this one included (0 when accepted), so a caller can log the first and then
    /// only every so often.
    public mutating func open(_ address: String) -> (accepted: Bool, refusals: Int) {
        let count = counts[address] ?? 0
        guard count < limit else {
            let refused = (refusals[address] ?? 0) + 1
            refusals[address] = refused
            return (false, refused)
        }
        counts[address] = count + 1
        refusals[address] = nil
        return (true, 0)
    }

    public mutating func close(_ address: String) {
        guard let count = counts[address] else { return }
        counts[address] = count > 1 ? count - 1 : nil
        if count <= 1 { refusals[address] = nil }
    }

    /// Whether one more connection from `address` would be within the limit (without counting it).
    public func admits(_ address: String) -> Bool { count(for: address) < limit }

    /// Logging a refusal: the first of a run and then every thousandth.
    public static func shouldLog(refusals: Int) -> Bool { refusals == 1 || refusals % 1_000 == 0 }
}
