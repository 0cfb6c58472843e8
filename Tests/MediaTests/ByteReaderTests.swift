import Media
import Testing

@Suite struct ByteReaderTests {
    static let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]

    /// Reads `width` bytes with `read` from a reader with exactly `width` bytes, then one fewer.
    func boundary<T: Equatable>(
        _ width: Int, _ expected: T, _ read: (inout ByteReader) throws(MediaFormatError) -> T,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var exact = ByteReader(Self.bytes[0..<width], structure: "test")
        #expect(try read(&exact) == expected, sourceLocation: sourceLocation)
        #expect(exact.isAtEnd && exact.remaining == 0 && exact.offset == width, sourceLocation: sourceLocation)
        var short = ByteReader(Self.bytes[0..<(width - 1)], structure: "test")
        #expect(throws: MediaFormatError.self, sourceLocation: sourceLocation) { try read(&short) }
        // A failed read consumes nothing.
        #expect(short.offset == 0 && short.remaining == width - 1, sourceLocation: sourceLocation)
    }

    @Test func everyReadAtItsBoundary() throws {
        try boundary(1, UInt8(0x01)) { reader throws(MediaFormatError) in try reader.u8() }
        try boundary(2, UInt16(0x0102)) { reader throws(MediaFormatError) in try reader.u16() }
        try boundary(3, UInt32(0x01_0203)) { reader throws(MediaFormatError) in try reader.u24() }
        try boundary(3, Int32(0x01_0203)) { reader throws(MediaFormatError) in try reader.i24() }
        try boundary(4, UInt32(0x0102_0304)) { reader throws(MediaFormatError) in try reader.u32() }
        try boundary(8, UInt64(0x0102_0304_0506_0708)) { reader throws(MediaFormatError) in try reader.u64() }
        try boundary(8, Double(bitPattern: 0x0102_0304_0506_0708)) { reader throws(MediaFormatError) in try reader.double() }
        try boundary(5, [UInt8](Self.bytes[0..<5])) { reader throws(MediaFormatError) in try reader.bytes(5) }
        try boundary(5, Self.bytes[0..<5]) { reader throws(MediaFormatError) in try reader.slice(5) }
        try boundary(5, 5) { reader throws(MediaFormatError) in
            try reader.skip(5)
            return reader.offset
        }
    }

    @Test func signedAndFloatingValues() throws {
        var reader = ByteReader([0xFF, 0xFF, 0xFE, 0x80, 0x00, 0x00, 0x7F, 0xFF, 0xFF], structure: "test")
        #expect(try reader.i24() == -2)
        #expect(try reader.i24() == -0x80_0000)
        #expect(try reader.i24() == 0x7F_FFFF)
        // 1.5 as AMF0 writes it.
        var double = ByteReader([0x3F, 0xF8, 0, 0, 0, 0, 0, 0], structure: "test")
        #expect(try double.double() == 1.5)
    }

    @Test func peekingConsumesNothing() throws {
        var reader = ByteReader(Self.bytes, structure: "test")
        #expect(try reader.peek() == 0x01)
        #expect(try reader.peek(3) == [0x01, 0x02, 0x03])
        #expect(reader.offset == 0)
        try reader.skip(8)
        #expect(try reader.peek() == 0x09)
        #expect(throws: MediaFormatError.self) { try reader.peek(2) }
        try reader.skip(1)
        #expect(throws: MediaFormatError.self) { try reader.peek() }
        #expect(try reader.peek(0).isEmpty)
    }

    @Test func negativeAndHugeCountsThrow() throws {
        var reader = ByteReader(Self.bytes, structure: "test")
        for count in [-1, -9, Int.min, Int.max, Int.max - 1, 10] {
            #expect(throws: MediaFormatError.self) { try reader.bytes(count) }
            #expect(throws: MediaFormatError.self) { try reader.slice(count) }
            #expect(throws: MediaFormatError.self) { try reader.skip(count) }
            #expect(throws: MediaFormatError.self) { try reader.peek(count) }
        }
        #expect(reader.offset == 0)
        #expect(reader.slice(atMost: -5).isEmpty)
        #expect(reader.slice(atMost: Int.max) == Self.bytes[...])
        #expect(reader.isAtEnd)
    }

    @Test func errorsNameTheStructureAndTheShortfall() {
        var reader = ByteReader([0xAA], structure: "FLV tag")
        #expect(throws: MediaFormatError("FLV tag", "needs 2 more bytes at offset 0, has 1")) { try reader.u16() }
        #expect(throws: MediaFormatError("FLV tag", "invalid byte count -3 at offset 0")) { try reader.skip(-3) }
    }

    @Test func aSliceWithANonZeroStartIndexIsReadInPlace() throws {
        let whole: [UInt8] = [0xEE, 0xEE, 0xEE, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xEE]
        let slice = whole[3..<8]
        var reader = ByteReader(slice, structure: "test")
        #expect(reader.offset == 0 && reader.remaining == 5)
        #expect(try reader.u16() == 0x1234)
        #expect(reader.offset == 2)
        #expect(reader.unread == whole[5..<8])
        #expect(try reader.peek() == 0x56)
        let taken = try reader.slice(2)
        #expect(taken.startIndex == 5 && taken == [0x56, 0x78])
        // The end of the slice is the end: the byte after it is not readable.
        #expect(try reader.u8() == 0x9A)
        #expect(throws: MediaFormatError.self) { try reader.u8() }
        var again = ByteReader(slice, structure: "test")
        try again.skip(1)
        #expect(again.restSlice() == whole[4..<8])
        #expect(again.isAtEnd && again.restSlice().isEmpty && again.rest().isEmpty)
        var empty = ByteReader(whole[9...], structure: "test")
        #expect(empty.isAtEnd)
        #expect(throws: MediaFormatError.self) { try empty.u8() }
    }
}

@Suite struct BitReaderTests {
    @Test func readsMostSignificantBitFirstAcrossBytes() throws {
        var bits = BitReader([0b1010_1100, 0b0101_0011])
        #expect(try bits.read(1) == 1)
        #expect(try bits.read(3) == 0b010)
        #expect(try bits.read(6) == 0b1100_01)
        #expect(try bits.flag() == false)
        #expect(bits.bitsRemaining == 5)
        try bits.skip(1)
        #expect(try bits.read(4) == 0b0011)
        #expect(bits.bitsRemaining == 0)
        #expect(throws: MediaFormatError.self) { try bits.read(1) }
        #expect(try bits.read(0) == 0)
    }

    @Test func everyWidthAtTheBoundary() throws {
        let bytes: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        for width in 1...32 {
            var reader = BitReader(bytes[0..<((width + 7) / 8)])
            try reader.skip(reader.bitsRemaining - width)
            #expect(try reader.read(width) == (1 << width) - 1)
            #expect(throws: MediaFormatError.self) { try reader.read(1) }
        }
    }

    @Test func negativeAndOversizedCountsThrow() throws {
        var bits = BitReader([UInt8](repeating: 0xAB, count: 8))
        for count in [-1, 33, Int.max, Int.min] {
            #expect(throws: MediaFormatError.self) { try bits.read(count) }
        }
        for count in [-1, 65, Int.max, Int.min] {
            #expect(throws: MediaFormatError.self) { try bits.skip(count) }
        }
        #expect(bits.bitOffset == 0)
        #expect(try bits.read(32) == 0xABAB_ABAB)
    }

    @Test func aSliceWithANonZeroStartIndex() throws {
        let whole: [UInt8] = [0x00, 0x00, 0b1000_0000, 0x00]
        var bits = BitReader(whole[2..<3], structure: "slice")
        #expect(bits.bitsRemaining == 8)
        #expect(try bits.read(1) == 1)
        #expect(try bits.read(7) == 0)
        #expect(throws: MediaFormatError("slice", "needs 1 bits, has 0")) { try bits.read(1) }
    }

    @Test func expGolomb() throws {
        // ue(v): 1 → 0, 010 → 1, 011 → 2, 00100 → 3; se(v) of 011 → -1, 00100 → 2.
        var bits = BitReader([0b1010_0110, 0b0100_0110, 0b0100_0000])
        #expect(try bits.readUE() == 0)
        #expect(try bits.readUE() == 1)
        #expect(try bits.readUE() == 2)
        #expect(try bits.readUE() == 3)
        #expect(try bits.readSE() == -1)
        #expect(try bits.readSE() == 2)
        // 32 leading zeros: longer than any code H.264 allows.
        var long = BitReader([UInt8](repeating: 0, count: 5))
        #expect(throws: MediaFormatError.self) { try long.readUE() }
        // A code cut off by the end of the data.
        var cut = BitReader([0b0000_0001])
        #expect(throws: MediaFormatError.self) { try cut.readUE() }
    }
}
