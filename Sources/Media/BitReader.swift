/// MSB-first bit reader over untrusted bytes (a slice, read in place): every read either succeeds
/// or throws `MediaFormatError`; no count or input makes it trap.
public struct BitReader: Sendable {
    @usableFromInline let bytes: ArraySlice<UInt8>
    /// Bits read so far, from the slice's start.
    public private(set) var bitOffset = 0
    /// What is being read (`MediaFormatError.structure` of every failure).
    public let structure: String

    @inlinable
    public init(_ bytes: ArraySlice<UInt8>, structure: String = "bitstream") {
        self.bytes = bytes
        self.structure = structure
    }

    @inlinable
    public init(_ bytes: [UInt8], structure: String = "bitstream") {
        self.init(bytes[...], structure: structure)
    }

    public var bitsRemaining: Int { bytes.count * 8 - bitOffset }

    /// The next `count` bits (at most 32) as an unsigned value.
    public mutating func read(_ count: Int) throws(MediaFormatError) -> Int {
        guard count >= 0, count <= 32, count <= bitsRemaining else {
            throw MediaFormatError(structure, "needs \(count) bits, has \(bitsRemaining)")
        }
        var value = 0
        var left = count
        while left > 0 {
            let byte = Int(bytes[bytes.startIndex + (bitOffset >> 3)])
            let used = bitOffset & 7
            // Take what is left of this byte, or fewer when the read ends inside it.
            let take = min(8 - used, left)
            let bits = (byte >> (8 - used - take)) & ((1 << take) - 1)
            value = value << take | bits
            bitOffset += take
            left -= take
        }
        return value
    }

    /// One bit, as a flag.
    public mutating func flag() throws(MediaFormatError) -> Bool {
        try read(1) == 1
    }

    public mutating func skip(_ count: Int) throws(MediaFormatError) {
        guard count >= 0, count <= bitsRemaining else {
            throw MediaFormatError(structure, "needs \(count) bits, has \(bitsRemaining)")
        }
        bitOffset += count
    }

    /// Unsigned Exp-Golomb (H.264 §9.1).
    public mutating func readUE() throws(MediaFormatError) -> Int {
        var zeros = 0
        while try read(1) == 0 {
            zeros += 1
            guard zeros <= 31 else { throw MediaFormatError(structure, "Exp-Golomb code longer than 32 bits") }
        }
        return (1 << zeros) - 1 + (try read(zeros))
    }

    /// Signed Exp-Golomb (H.264 §9.1.1).
    public mutating func readSE() throws(MediaFormatError) -> Int {
        let k = try readUE()
        return k % 2 == 0 ? -(k / 2) : (k + 1) / 2
    }
}

public struct BitWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var bitCount = 0

    public init() {}

    public mutating func write(_ value: Int, bits: Int) {
        for i in stride(from: bits - 1, through: 0, by: -1) {
            if bitCount % 8 == 0 { bytes.append(0) }
            if (value >> i) & 1 == 1 {
                bytes[bytes.count - 1] |= 0x80 >> UInt8(bitCount % 8)
            }
            bitCount += 1
        }
    }
}
