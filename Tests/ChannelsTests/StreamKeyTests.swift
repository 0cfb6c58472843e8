import Channels
import Testing

@Suite struct StreamKeyTests {
    @Test func aKeyHashRoundTripsThroughItsHexInEitherCase() {
        let key = StreamKey.generate()
        #expect(StreamKey.hashBytes(hex: key.hashHex) == key.hash)
        #expect(StreamKey.hashBytes(hex: key.hashHex.uppercased()) == key.hash)
    }

    @Test func anythingButHexDigitPairsIsEmpty() {
        #expect(StreamKey.hashBytes(hex: "abc").isEmpty, "odd length")
        #expect(StreamKey.hashBytes(hex: "zz").isEmpty)
        #expect(StreamKey.hashBytes(hex: "").isEmpty)
        #expect(StreamKey.hashBytes(hex: "0aFf") == [0x0A, 0xFF])
    }
}
