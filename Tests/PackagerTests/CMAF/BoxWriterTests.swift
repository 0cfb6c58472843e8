import Testing

@testable import Packager

@Suite struct BoxWriterTests {
    func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func fourCCReadsAsBigEndianASCII() {
        let code: FourCC = "ftyp"
        #expect(code.value == 0x6674_7970)
        #expect(code.description == "ftyp")
    }

    @Test func ftypLayout() {
        var w = BoxWriter()
        w.box("ftyp") { w in
            w.fourCC("iso6")
            w.u32(0)
            w.fourCC("iso6")
            w.fourCC("cmfc")
            w.fourCC("mp41")
        }
        let expected: [UInt8] =
            [0, 0, 0, 0x1C] + ascii("ftyp") + ascii("iso6") + [0, 0, 0, 0]
            + ascii("iso6") + ascii("cmfc") + ascii("mp41")
        #expect(w.finish() == expected)
    }

    @Test func tfdtVersion1Has64BitTime() {
        var w = BoxWriter()
        w.fullBox("tfdt", version: 1, flags: 0) { w in w.u64(0x0123_4567_89AB_CDEF) }
        let expected: [UInt8] = [0, 0, 0, 0x14] + ascii("tfdt") + [1, 0, 0, 0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]
        #expect(w.finish() == expected)
    }

    @Test func nestedSizesAreBackPatched() {
        var w = BoxWriter()
        w.box("moov") { w in
            w.box("abcd") { w in w.u16(0xBEEF) }
            w.fullBox("efgh", version: 2, flags: 0x0A0B0C) { _ in }
        }
        let expected: [UInt8] =
            [0, 0, 0, 30] + ascii("moov")
            + [0, 0, 0, 10] + ascii("abcd") + [0xBE, 0xEF]
            + [0, 0, 0, 12] + ascii("efgh") + [2, 0x0A, 0x0B, 0x0C]
        #expect(w.finish() == expected)
    }

    @Test func integersAreBigEndian() {
        var w = BoxWriter()
        w.u8(1)
        w.u16(0x0203)
        w.u24(0x040506)
        w.u32(0x0708_090A)
        w.i32(-2)
        w.i16(-1)
        w.zeros(2)
        #expect(w.finish() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0, 0])
    }

    /// A two-sample fragment with composition offsets, checked byte by byte: trun version 1 with
    /// flags 0xF01 (data offset, duration, size, flags, signed composition offset).
    @Test func fragmentWithCompositionOffsetsLayout() {
        let samples = [
            CMAFSample(duration: 3000, compositionOffset: 6000, isSync: true, data: [0xAA, 0xBB, 0xCC]),
            CMAFSample(duration: 3000, compositionOffset: -3000, isSync: false, data: [0xDD]),
        ]
        let bytes = CMAFFragmentWriter.fragment(sequenceNumber: 7, baseMediaDecodeTime: 0x1_0000_0000, samples: samples)
        var expected: [UInt8] = [0, 0, 0, 120] + ascii("moof")
        expected += [0, 0, 0, 16] + ascii("mfhd") + [0, 0, 0, 0] + [0, 0, 0, 7]
        expected += [0, 0, 0, 96] + ascii("traf")
        expected += [0, 0, 0, 16] + ascii("tfhd") + [0, 0x02, 0, 0] + [0, 0, 0, 1]
        expected += [0, 0, 0, 20] + ascii("tfdt") + [1, 0, 0, 0] + [0, 0, 0, 1, 0, 0, 0, 0]
        expected += [0, 0, 0, 52] + ascii("trun") + [1, 0, 0x0F, 0x01] + [0, 0, 0, 2] + [0, 0, 0, 128]
        expected += [0, 0, 0x0B, 0xB8] + [0, 0, 0, 3] + [0x02, 0, 0, 0] + [0, 0, 0x17, 0x70]
        expected += [0, 0, 0x0B, 0xB8] + [0, 0, 0, 1] + [0x01, 0x01, 0, 0] + [0xFF, 0xFF, 0xF4, 0x48]
        expected += [0, 0, 0, 12] + ascii("mdat") + [0xAA, 0xBB, 0xCC, 0xDD]
        #expect(bytes == expected)
        #expect(bytes.capacity >= bytes.count)
    }

    @Test func fragmentWithoutCompositionOffsetsUsesTrunVersion0() throws {
        let samples = (0..<3).map { CMAFSample(duration: 1024, isSync: true, data: [UInt8(truncatingIfNeeded: $0)]) }
        let bytes = CMAFFragmentWriter.fragment(sequenceNumber: 1, baseMediaDecodeTime: 2048, samples: samples)
        let boxes = try TestBoxParser.parse(bytes)
        #expect(boxes.map(\.type) == ["moof", "mdat"])
        let trun = try #require(boxes[0].find("traf/trun"))
        #expect(trun.version == 0)
        #expect(trun.flags == 0x000701)
        #expect(trun.bytes.count == 12 + 8 + 3 * 12)
        let dataOffset = Int(TestBytes.u32(trun.fullBody, 4))
        #expect(Array(bytes[dataOffset...]) == [0, 1, 2])
    }
}
