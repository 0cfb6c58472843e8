import Media
import Testing

@testable import Packager

/// SPS/PPS as x264 wrote them (ffmpeg -profile:v … -level …), read from its avcC.
enum KnownParameterSets {
    static func bytes(_ hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            out.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return out
    }

    /// Constrained Baseline 3.0, 320×240.
    static let baselineSPS = bytes("6742c01ed90141fb0110000003001000000303c0f162e480")
    static let baselinePPS = bytes("68cb83cb20")
    /// High 4.0, 1920×1080 (1088 coded, cropped).
    static let highSPS = bytes("67640028acd940780227e5c044000003000400000300f03c60c658")
    static let highPPS = bytes("68ebe3cb22c0")
    /// Main 3.1, 1280×720.
    static let mainSPS = bytes("674d401feca02802dd8088000003000800000301e078c18cb0")

    static func record(sps: [UInt8], pps: [UInt8]) -> AVCDecoderConfigurationRecord {
        AVCDecoderConfigurationRecord(
            profileIndication: sps[1], profileCompatibility: sps[2], levelIndication: sps[3],
            sequenceParameterSets: [sps], pictureParameterSets: [pps]
        )
    }
}

@Suite struct CodecStringTests {
    @Test func baselineFromSPS() {
        #expect(
            CodecString.avc(KnownParameterSets.record(sps: KnownParameterSets.baselineSPS, pps: KnownParameterSets.baselinePPS))
                == "avc1.42C01E")
    }

    @Test func highFromSPS() {
        #expect(
            CodecString.avc(KnownParameterSets.record(sps: KnownParameterSets.highSPS, pps: KnownParameterSets.highPPS)) == "avc1.640028")
    }

    @Test func theSPSWinsOverADisagreeingRecordHeader() {
        var record = KnownParameterSets.record(sps: KnownParameterSets.mainSPS, pps: KnownParameterSets.baselinePPS)
        record.profileIndication = 66
        record.levelIndication = 10
        #expect(CodecString.avc(record) == "avc1.4D401F")
    }

    @Test func recordHeaderWhenTheSPSIsUnusable() {
        let record = AVCDecoderConfigurationRecord(
            profileIndication: 0x64, profileCompatibility: 0, levelIndication: 0x1F,
            sequenceParameterSets: [[0x67]], pictureParameterSets: [[0x68]]
        )
        #expect(CodecString.avc(record) == "avc1.64001F")
    }

    @Test func aacObjectTypes() throws {
        #expect(CodecString.aac(AudioSpecificConfig(objectType: 2, sampleRate: 48000, channelConfiguration: 2)) == "mp4a.40.2")
        // HE-AAC explicit signalling: object type 5, 24 kHz core, 48 kHz extension, then AAC-LC.
        let heAAC = try AudioSpecificConfig(parsing: [0x2B, 0x11, 0x88, 0x00])
        #expect(heAAC.objectType == 5)
        #expect(CodecString.aac(heAAC) == "mp4a.40.5")
        let track = TrackInfo(kind: .audio, codec: .aac, configuration: .aac(heAAC), timebase: .milliseconds, sampleRate: 48000)
        #expect(CodecString.of(track) == "mp4a.40.5")
        #expect(CodecString.of(TrackInfo(kind: .audio, codec: .opus, timebase: .milliseconds)) == nil)
    }
}

@Suite struct H264SequenceParameterSetTests {
    @Test func baselineSize() throws {
        let sps = try H264SequenceParameterSet(parsing: KnownParameterSets.baselineSPS)
        #expect(sps.width == 320)
        #expect(sps.height == 240)
        #expect(sps.chromaFormat == 1)
    }

    @Test func highSizeIsCropped() throws {
        let sps = try H264SequenceParameterSet(parsing: KnownParameterSets.highSPS)
        #expect(sps.width == 1920)
        #expect(sps.height == 1080)
        #expect(sps.profileIndication == 100)
        #expect(sps.bitDepthLuma == 8)
        #expect(sps.bitDepthChroma == 8)
    }

    @Test func mainSize() throws {
        let sps = try H264SequenceParameterSet(parsing: KnownParameterSets.mainSPS)
        #expect((sps.width, sps.height) == (1280, 720))
    }

    @Test func truncatedOrWrongNALThrowsNeverTraps() {
        let sps = KnownParameterSets.highSPS
        for length in 0..<sps.count - 1 {
            _ = try? H264SequenceParameterSet(parsing: Array(sps.prefix(length)))
        }
        #expect(throws: MediaFormatError.self) { try H264SequenceParameterSet(parsing: KnownParameterSets.baselinePPS) }
        #expect(throws: MediaFormatError.self) { try H264SequenceParameterSet(parsing: [0x67, 0x64, 0, 0x28]) }
        // All-ones bytes: Exp-Golomb codes and fields at their extremes.
        _ = try? H264SequenceParameterSet(parsing: [0x67, 100, 0, 40] + [UInt8](repeating: 0xFF, count: 64))
        _ = try? H264SequenceParameterSet(parsing: [0x67, 100, 0, 40] + [UInt8](repeating: 0x00, count: 64))
    }

    @Test func emulationPreventionIsRemoved() {
        #expect(H264SequenceParameterSet.removingEmulationPrevention([0, 0, 3, 1, 0, 0, 3, 0, 0, 3][...]) == [0, 0, 1, 0, 0, 0, 0])
    }
}
