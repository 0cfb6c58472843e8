/// A four-character ISO-BMFF code (box type, brand, handler type).
public struct FourCC: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var value: UInt32

    public init(_ value: UInt32) { self.value = value }

    /// `literal` is a compile-time constant of this package: four ASCII characters, or it traps.
    public init(stringLiteral literal: StaticString) {
        precondition(literal.utf8CodeUnitCount == 4, "a FourCC has four ASCII characters")
        var value: UInt32 = 0
        literal.withUTF8Buffer { buffer in
            for byte in buffer { value = value << 8 | UInt32(byte) }
        }
        self.value = value
    }

    public var description: String {
        String(decoding: [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) }, as: UTF8.self)
    }
}

/// Writes ISO/IEC 14496-12 boxes into one growing byte buffer: big-endian integers, boxes whose
/// 32-bit size is back-patched when they close, and full boxes (version and flags).
///
/// Boxes nest: `begin` opens one, `end` closes the innermost. Prefer `box(_:_:)` and
/// `fullBox(_:version:flags:_:)`, which close what they open.
public struct BoxWriter: Sendable {
    public private(set) var bytes: [UInt8]
    private var openBoxes: [Int] = []

    /// `capacity` is reserved up front, so a writer sized right allocates once.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(max(capacity, 0))
    }

    public var count: Int { bytes.count }

    // MARK: Integers (big-endian)

    public mutating func u8(_ value: UInt8) { bytes.append(value) }

    public mutating func u16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func u24(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func u32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func u64(_ value: UInt64) {
        u32(UInt32(truncatingIfNeeded: value >> 32))
        u32(UInt32(truncatingIfNeeded: value))
    }

    public mutating func i16(_ value: Int16) { u16(UInt16(bitPattern: value)) }
    public mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }

    public mutating func fourCC(_ code: FourCC) { u32(code.value) }

    public mutating func zeros(_ count: Int) {
        guard count > 0 else { return }
        bytes.append(contentsOf: repeatElement(0, count: count))
    }

    public mutating func append(_ data: [UInt8]) { bytes.append(contentsOf: data) }

    public mutating func append(_ data: ArraySlice<UInt8>) { bytes.append(contentsOf: data) }

    /// Overwrites four bytes already written (a size or an offset known only later).
    public mutating func patchU32(at offset: Int, _ value: UInt32) {
        guard offset >= 0, offset <= bytes.count - 4 else { return }
        bytes[offset] = UInt8(truncatingIfNeeded: value >> 24)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 16)
        bytes[offset + 2] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[offset + 3] = UInt8(truncatingIfNeeded: value)
    }

    // MARK: Boxes

    /// A box header whose size is known up front (no back-patching, nothing to close).
    public mutating func header(_ type: FourCC, size: Int) {
        u32(UInt32(clamping: size))
        fourCC(type)
    }

    public mutating func fullHeader(_ type: FourCC, size: Int, version: UInt8, flags: UInt32) {
        header(type, size: size)
        u8(version)
        u24(flags)
    }

    /// Opens a box: a size placeholder and the type.
    public mutating func begin(_ type: FourCC) {
        openBoxes.append(bytes.count)
        u32(0)
        fourCC(type)
    }

    /// Opens a full box: a box with a version byte and 24 bits of flags.
    public mutating func beginFull(_ type: FourCC, version: UInt8, flags: UInt32) {
        begin(type)
        u8(version)
        u24(flags)
    }

    /// Closes the innermost open box and writes its size. A box past 4 GiB gets the 64-bit
    /// `largesize` form (size 1), which moves its body by eight bytes, once.
    public mutating func end() {
        guard let start = openBoxes.popLast() else { return }
        let size = bytes.count - start
        if size <= Int(UInt32.max) {
            patchU32(at: start, UInt32(size))
        } else {
            patchU32(at: start, 1)
            let large = UInt64(size) + 8
            let largeBytes = [56, 48, 40, 32, 24, 16, 8, 0].map { UInt8(truncatingIfNeeded: large >> UInt64($0)) }
            bytes.insert(contentsOf: largeBytes, at: start + 8)
        }
    }

    public mutating func box(_ type: FourCC, _ body: (inout BoxWriter) -> Void) {
        begin(type)
        body(&self)
        end()
    }

    public mutating func fullBox(_ type: FourCC, version: UInt8, flags: UInt32, _ body: (inout BoxWriter) -> Void) {
        beginFull(type, version: version, flags: flags)
        body(&self)
        end()
    }

    /// The bytes; every box opened must have been closed.
    public func finish() -> [UInt8] {
        assert(openBoxes.isEmpty, "a box was left open")
        return bytes
    }
}
