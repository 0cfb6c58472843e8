/// A bounds-checked big-endian reader over untrusted bytes: every read either succeeds or throws
/// `MediaFormatError`; no count or input makes it trap. It reads a slice in place (no copy), and
/// `offset` counts from the slice's start, whatever its `startIndex`.
///
/// Reads are `@inlinable` and allocate nothing, except `bytes(_:)` and `rest()`, which return
/// arrays; `slice(_:)` and `restSlice()` are their copy-free forms. A reader is a value: to look
/// ahead, read from a copy.
public struct ByteReader: Sendable {
    /// Everything the reader was given; reads start at `bytes.startIndex`.
    public let bytes: ArraySlice<UInt8>
    /// The index in `bytes` of the next byte.
    @usableFromInline var position: Int
    /// What is being read (`MediaFormatError.structure` of every failure).
    public let structure: String

    @inlinable
    public init(_ bytes: ArraySlice<UInt8>, structure: String) {
        self.bytes = bytes
        self.position = bytes.startIndex
        self.structure = structure
    }

    @inlinable
    public init(_ bytes: [UInt8], structure: String) {
        self.init(bytes[...], structure: structure)
    }

    /// Bytes read (or skipped) so far.
    @inlinable public var offset: Int { position - bytes.startIndex }
    /// Bytes left to read.
    @inlinable public var remaining: Int { bytes.endIndex - position }
    @inlinable public var isAtEnd: Bool { position >= bytes.endIndex }
    /// The bytes left to read, without consuming them.
    @inlinable public var unread: ArraySlice<UInt8> { bytes[position...] }

    /// Throws unless `count` bytes (a count from the input: maybe negative or huge) are left.
    @inlinable @inline(__always)
    func need(_ count: Int) throws(MediaFormatError) {
        // One unsigned comparison refuses negative counts too.
        guard UInt(bitPattern: count) <= UInt(bitPattern: remaining) else { throw shortage(count) }
    }

    @usableFromInline @inline(never)
    func shortage(_ count: Int) -> MediaFormatError {
        guard count >= 0 else { return MediaFormatError(structure, "invalid byte count \(count) at offset \(offset)") }
        return MediaFormatError(structure, "needs \(count) more bytes at offset \(offset), has \(remaining)")
    }

    @inlinable @inline(__always)
    public mutating func u8() throws(MediaFormatError) -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }

    @inlinable @inline(__always)
    public mutating func u16() throws(MediaFormatError) -> UInt16 {
        try need(2)
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    @inlinable @inline(__always)
    public mutating func u24() throws(MediaFormatError) -> UInt32 {
        try need(3)
        defer { position += 3 }
        return UInt32(bytes[position]) << 16 | UInt32(bytes[position + 1]) << 8 | UInt32(bytes[position + 2])
    }

    /// A signed 24-bit value (FLV's composition time), sign-extended.
    @inlinable @inline(__always)
    public mutating func i24() throws(MediaFormatError) -> Int32 {
        Int32(bitPattern: try u24() << 8) >> 8
    }

    @inlinable @inline(__always)
    public mutating func u32() throws(MediaFormatError) -> UInt32 {
        try need(4)
        defer { position += 4 }
        return UInt32(bytes[position]) << 24 | UInt32(bytes[position + 1]) << 16
            | UInt32(bytes[position + 2]) << 8 | UInt32(bytes[position + 3])
    }

    @inlinable
    public mutating func u64() throws(MediaFormatError) -> UInt64 {
        try need(8)
        var value: UInt64 = 0
        for index in position..<(position + 8) { value = value << 8 | UInt64(bytes[index]) }
        position += 8
        return value
    }

    /// An IEEE 754 double, big-endian (AMF0's number).
    @inlinable
    public mutating func double() throws(MediaFormatError) -> Double {
        Double(bitPattern: try u64())
    }

    /// The next byte, not consumed.
    @inlinable @inline(__always)
    public func peek() throws(MediaFormatError) -> UInt8 {
        try need(1)
        return bytes[position]
    }

    /// The next `count` bytes, not consumed.
    @inlinable
    public func peek(_ count: Int) throws(MediaFormatError) -> ArraySlice<UInt8> {
        try need(count)
        return bytes[position..<(position + count)]
    }

    /// The next `count` bytes, in place.
    @inlinable @inline(__always)
    public mutating func slice(_ count: Int) throws(MediaFormatError) -> ArraySlice<UInt8> {
        try need(count)
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    /// The next `count` bytes or, when fewer are left, all of them (a count below zero takes none):
    /// for a length field that may overstate what a truncated structure holds.
    @inlinable
    public mutating func slice(atMost count: Int) -> ArraySlice<UInt8> {
        let end = position + min(max(count, 0), remaining)
        defer { position = end }
        return bytes[position..<end]
    }

    /// The next `count` bytes, copied.
    @inlinable
    public mutating func bytes(_ count: Int) throws(MediaFormatError) -> [UInt8] {
        Array(try slice(count))
    }

    @inlinable @inline(__always)
    public mutating func skip(_ count: Int) throws(MediaFormatError) {
        try need(count)
        position += count
    }

    /// Every byte left, in place; the reader is then at its end.
    @inlinable
    public mutating func restSlice() -> ArraySlice<UInt8> {
        defer { position = bytes.endIndex }
        return bytes[position...]
    }

    /// Every byte left, copied; the reader is then at its end.
    @inlinable
    public mutating func rest() -> [UInt8] {
        Array(restSlice())
    }
}
