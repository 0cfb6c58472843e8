/// MSB-first bit reader over untrusted bytes.
public struct BitReader: Sendable {
    let bytes: [UInt8]
    public private(set) var bitOffset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var bitsRemaining: Int { bytes.count * 8 - bitOffset }

    public mutating func read(_ count: Int) throws -> Int {
        guard count >= 0, count <= 32, count <= bitsRemaining else {
            throw MediaFormatError("bitstream", "needs \(count) bits, has \(bitsRemaining)")
        }
        var value = 0
        for _ in 0..<count {
            let byte = bytes[bitOffset >> 3]
            let bit = Int(byte >> (7 - UInt8(bitOffset & 7))) & 1
            value = value << 1 | bit
            bitOffset += 1
        }
        return value
    }

    /// Unsigned Exp-Golomb (H.264 §9.1).
    public mutating func readUE() throws -> Int {
        var zeros = 0
        while try read(1) == 0 {
            zeros += 1
            guard zeros <= 31 else { throw MediaFormatError("bitstream", "Exp-Golomb code longer than 32 bits") }
        }
        return (1 << zeros) - 1 + (try read(zeros))
    }

    public mutating func readSE() throws -> Int {
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
