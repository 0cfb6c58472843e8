import Foundation
import Media

/// Number and date spellings the playlists use. Hand-written rather than `String(format:)` or
/// `ISO8601DateFormatter` so the output is the same on every platform and locale, and so rendering
/// a playlist for thousands of blocked requests allocates no formatter.
enum HLSFormat {
    /// `value` with exactly `decimals` digits after the point (`EXTINF`, `FRAME-RATE`).
    /// Values the playlist state has already validated (finite, not negative, below 10^12).
    static func fixed(_ value: Double, decimals: Int) -> String {
        let scale = power10(decimals)
        let clamped = value.isFinite ? min(max(value, 0), 1e12) : 0
        let scaled = Int64((clamped * Double(scale)).rounded())
        let whole = scaled / scale
        guard decimals > 0 else { return String(whole) }
        let fraction = String(scaled % scale)
        return "\(whole)." + String(repeating: "0", count: max(0, decimals - fraction.count)) + fraction
    }

    /// Up to five decimals, trailing zeros dropped but one kept (`1.0`, `0.33334`, `24.0`), the
    /// spelling of RFC 8216bis's examples for `PART-TARGET`, `PART-HOLD-BACK`, `CAN-SKIP-UNTIL`.
    static func decimal(_ value: Double) -> String {
        var text = fixed(value, decimals: 5)
        while text.hasSuffix("0"), !text.hasSuffix(".0") { text.removeLast() }
        return text
    }

    /// ISO 8601 in UTC with milliseconds and `Z` (`2019-02-14T02:13:28.106Z`), as
    /// `EXT-X-PROGRAM-DATE-TIME` wants it.
    static func dateTime(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        // Years 0001...9999 only; anything else is clamped rather than printed wrongly. Nearest
        // millisecond, so float noise in a date stored as .106 s does not print as .105.
        let millis = Int64((min(max(seconds, -62_135_596_800), 253_402_300_799.999) * 1000).rounded())
        let (year, month, day, hour, minute, second, milli) = CivilDate.from(millisecondsSince1970: millis)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(milli, 3))Z"
    }

    private static func power10(_ n: Int) -> Int64 {
        var result: Int64 = 1
        for _ in 0..<max(0, min(n, 9)) { result *= 10 }
        return result
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
