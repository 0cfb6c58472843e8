/// A rational unit of time: one tick lasts `numerator / denominator` seconds.
public struct Timebase: Sendable, Hashable, CustomStringConvertible {
    public var numerator: Int64
    public var denominator: Int64

    public init(_ numerator: Int64, _ denominator: Int64) {
        precondition(numerator > 0 && denominator > 0, "a timebase is a positive fraction")
        self.numerator = numerator
        self.denominator = denominator
    }

    /// FLV/RTMP timestamps.
    public static let milliseconds = Timebase(1, 1000)
    /// MPEG-TS PES timestamps.
    public static let mpeg90kHz = Timebase(1, 90_000)
    public static let microseconds = Timebase(1, 1_000_000)

    public var description: String { "\(numerator)/\(denominator)" }

    /// Rescales `value` from this timebase to `other`, rounding to nearest (half away from zero).
    /// 128-bit intermediates, and a product too large even for those (absurd timebases from
    /// untrusted input) saturates like the result does, never traps.
    public func convert(_ value: Int64, to other: Timebase) -> Int64 {
        if self == other { return value }
        let (partial, overflow1) = Int128(value).multipliedReportingOverflow(by: Int128(self.numerator))
        let (numerator, overflow2) = partial.multipliedReportingOverflow(by: Int128(other.denominator))
        let (divisor, overflow3) = Int128(denominator).multipliedReportingOverflow(by: Int128(other.numerator))
        if overflow1 || overflow2 || overflow3 {
            let scale = Double(self.numerator) * Double(other.denominator) / (Double(denominator) * Double(other.numerator))
            let result = Double(value) * scale
            return result.isNaN ? 0 : result >= 9.2e18 ? .max : result <= -9.2e18 ? .min : Int64(result.rounded())
        }
        var (quotient, remainder) = numerator.quotientAndRemainder(dividingBy: divisor)
        if remainder.magnitude * 2 >= divisor.magnitude { quotient += numerator < 0 ? -1 : 1 }
        return Int64(clamping: quotient)
    }

    public func seconds(_ value: Int64) -> Double {
        Double(value) * Double(numerator) / Double(denominator)
    }
}
