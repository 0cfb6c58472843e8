import EventStore
import Foundation
import Media

/// A webhook body's JSON, written by hand into one byte array: the log's encoder, Foundation's
/// date style and `UUID.uuidString` were most of what a body cost (docs/benchmarks.md#opsbenchwebhooks).
/// WebhookHTTPTests holds each piece equal to what the encoder and `EventCoding.formatDate` write.
struct WebhookJSON {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) {
        bytes.reserveCapacity(capacity)
    }

    /// Text written as it is (JSON punctuation, or JSON already).
    mutating func raw(_ text: String) {
        bytes += text.utf8
    }

    mutating func number(_ value: Int64) {
        bytes += String(value).utf8
    }

    /// `text` as a JSON string.
    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += #"\""#.utf8
            case UInt8(ascii: "\\"): bytes += #"\\"#.utf8
            case UInt8(ascii: "\n"): bytes += #"\n"#.utf8
            case UInt8(ascii: "\r"): bytes += #"\r"#.utf8
            case UInt8(ascii: "\t"): bytes += #"\t"#.utf8
            case ..<0x20:
                bytes += #"\u00"#.utf8
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `id` as a JSON string, in lowercase (the body's `eventId`) or as `uuidString` writes it.
    mutating func string(_ id: UUID, lowercase: Bool) {
        let digits = lowercase ? Self.hex : Self.upperHex
        bytes.append(UInt8(ascii: "\""))
        withUnsafeBytes(of: id.uuid) { raw in
            for (index, byte) in raw.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 { bytes.append(UInt8(ascii: "-")) }
                bytes.append(digits[Int(byte >> 4)])
                bytes.append(digits[Int(byte & 0xF)])
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// `date` as a JSON string, as `EventCoding.formatDate` writes it: UTC, milliseconds cut
    /// (not rounded), `2026-12-06T18:27:55.123Z`.
    mutating func string(_ date: Date) {
        let interval = date.timeIntervalSinceReferenceDate
        let whole = interval.rounded(.down)
        guard whole.magnitude < 1e15 else {
            string(EventCoding.formatDate(date))
            return
        }
        let milliseconds = (Int64(whole) + 978_307_200) * 1000 + min(Int64((interval - whole) * 1000), 999)
        let civil = CivilDate.from(millisecondsSince1970: milliseconds)
        guard (0...9999).contains(civil.year) else {
            string(EventCoding.formatDate(date))
            return
        }
        bytes.append(UInt8(ascii: "\""))
        digits(civil.year, 4, then: "-")
        digits(civil.month, 2, then: "-")
        digits(civil.day, 2, then: "T")
        digits(civil.hour, 2, then: ":")
        digits(civil.minute, 2, then: ":")
        digits(civil.second, 2, then: ".")
        digits(civil.millisecond, 3, then: "Z")
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func digits(_ value: Int64, _ count: Int, then separator: Unicode.Scalar) {
        var divisor: Int64 = 1
        for _ in 1..<count { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
        bytes.append(UInt8(ascii: separator))
    }

    private static let hex = Array("0123456789abcdef".utf8)
    private static let upperHex = Array("0123456789ABCDEF".utf8)
}
