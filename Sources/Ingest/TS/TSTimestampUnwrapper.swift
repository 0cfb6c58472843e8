/// Extends 33-bit MPEG-TS timestamps (90 kHz, wrapping every 26.5 h) to a continuous 64-bit timeline.
///
/// Each value is placed on the 2^33 period nearest to the previous value (or to a program-wide
/// reference for a stream's first value), so a wrap moves forward and a slightly older
/// timestamp (B-frame PTS, audio just behind video) stays behind.
struct TSTimestampUnwrapper: Sendable, Hashable {
    static let period: Int64 = 1 << 33

    private(set) var last: Int64?

    mutating func reset() { last = nil }

    /// `raw` is the 33-bit field; `reference` is used when this stream has no history.
    mutating func unwrap(_ raw: Int64, reference: Int64?) -> Int64 {
        let raw = raw & (Self.period &- 1)
        guard let anchor = last ?? reference else {
            last = raw
            return raw
        }
        let base = anchor & ~(Self.period &- 1)
        var best = base &+ raw
        for candidate in [base &+ raw &- Self.period, base &+ raw &+ Self.period]
        where Self.distance(candidate, anchor) < Self.distance(best, anchor) {
            best = candidate
        }
        last = best
        return best
    }

    private static func distance(_ a: Int64, _ b: Int64) -> UInt64 {
        a >= b ? UInt64(bitPattern: a &- b) : UInt64(bitPattern: b &- a)
    }
}
