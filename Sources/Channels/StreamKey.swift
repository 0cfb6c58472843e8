import Crypto
import EventStore
import Foundation

/// A stream key: 32 random bytes as `sk_` + base64url. Stored and looked up only as its SHA-256
/// (a 256-bit random secret needs no salt or slow hash), compared in constant time.
public struct StreamKey: Sendable, Hashable {
    public let text: String

    public init(text: String) { self.text = text }

    public static func generate() -> StreamKey {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let encoded = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return StreamKey(text: "sk_" + encoded)
    }

    public var hash: [UInt8] { Self.hash(text) }
    public var hashHex: String { hash.map { String(format: "%02x", $0) }.joined() }
    public var hint: String { String(text.suffix(4)) }

    public static func hash(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Data(text.utf8))) }

    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// A short, non-reversible label for logs and events about an attempted key: the first 16 hex
    /// digits of its SHA-256.
    public static func fingerprint(_ text: String) -> String {
        hash(text).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// The bytes of a key hash as `StreamKeyIssued.keyHash` records it (hex digits, either case);
    /// empty for anything else.
    public static func hashBytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return [] }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index + 1 < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return [] }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
