/// Who fetched a playlist or a part, as the viewer count tells clients apart: the player's CMCD
/// session id when it sends one, else its address (IPv6: the /64) with its User-Agent. A 64-bit
/// hash of either, seeded per process, so tracking a client stores 8 bytes and no string.
public struct ViewerID: Hashable, Sendable {
    public let value: UInt64

    public init(value: UInt64) {
        self.value = value
    }

    /// A player by its CMCD `sid`.
    public static func player(sessionID: some StringProtocol) -> ViewerID {
        var hasher = Hasher()
        hasher.combine(UInt8(1))
        combine(sessionID, into: &hasher)
        return ViewerID(value: UInt64(UInt(bitPattern: hasher.finalize())))
    }

    /// A client without CMCD: its address key (`ConnectionGuard.addressKey`) and User-Agent.
    public static func client(address: some StringProtocol, userAgent: (some StringProtocol)?) -> ViewerID {
        var hasher = Hasher()
        hasher.combine(UInt8(2))
        combine(address, into: &hasher)
        if let userAgent { combine(userAgent, into: &hasher) }
        return ViewerID(value: UInt64(UInt(bitPattern: hasher.finalize())))
    }

    /// Hashes the UTF-8 bytes, so a `String` and a `Substring` of the same text give one id.
    private static func combine(_ text: some StringProtocol, into hasher: inout Hasher) {
        hasher.combine(text.utf8.count)
        let done = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil {
            Array(text.utf8).withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }
}
