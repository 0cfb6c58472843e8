import Media
import Testing

@Suite struct TimebaseTests {
    @Test func convertsAndRoundsToNearest() {
        #expect(Timebase.milliseconds.convert(1_000, to: .mpeg90kHz) == 90_000)
        #expect(Timebase.mpeg90kHz.convert(3_003, to: .milliseconds) == 33)
        #expect(Timebase.mpeg90kHz.convert(45, to: .milliseconds) == 1)  // 0.5 ms rounds away from zero
        #expect(Timebase.mpeg90kHz.convert(-45, to: .milliseconds) == -1)
        #expect(Timebase(1, 48_000).seconds(24_000) == 0.5)
    }

    @Test func untrustedExtremesSaturateInsteadOfTrapping() {
        #expect(Timebase.milliseconds.convert(.max, to: .microseconds) == .max)
        #expect(Timebase.milliseconds.convert(.min, to: .microseconds) == .min)
    }
}

@Suite struct CodecConfigurationTests {
    @Test func avcRecordRoundTrips() throws {
        let record = AVCDecoderConfigurationRecord(
            profileIndication: 100, profileCompatibility: 0, levelIndication: 40,
            sequenceParameterSets: [[0x67, 0x64, 0x00, 0x28, 0xAC]], pictureParameterSets: [[0x68, 0xEE, 0x3C, 0x80]])
        let parsed = try AVCDecoderConfigurationRecord(parsing: record.serialized())
        #expect(parsed == record)
    }

    @Test func truncatedRecordsAreTypedErrors() {
        let bytes = AVCDecoderConfigurationRecord(
            profileIndication: 66, profileCompatibility: 0, levelIndication: 30,
            sequenceParameterSets: [[0x67, 0x42]], pictureParameterSets: [[0x68]]
        ).serialized()
        for length in 0..<bytes.count {
            #expect(throws: MediaFormatError.self) { try AVCDecoderConfigurationRecord(parsing: Array(bytes.prefix(length))) }
        }
        #expect(throws: MediaFormatError.self) { try AudioSpecificConfig(parsing: []) }
        #expect(throws: MediaFormatError.self) { try AudioSpecificConfig(parsing: [0x12]) }
    }

    @Test func aacLowComplexityStereo48k() throws {
        // AAC-LC (2), 48 kHz (index 3), 2 channels: 00010 0011 0010 000
        let config = try AudioSpecificConfig(parsing: [0x11, 0x90])
        #expect(config.objectType == 2)
        #expect(config.sampleRate == 48_000)
        #expect(config.channelConfiguration == 2)
    }
}

@Suite struct TimebaseOverflowTests {
    @Test func absurdTimebasesSaturate() {
        let huge = Timebase(.max, 1)
        let tiny = Timebase(1, .max)
        #expect(huge.convert(.max, to: tiny) == .max)
        #expect(huge.convert(.min, to: tiny) == .min)
        #expect(tiny.convert(.max, to: huge) == 0)
        #expect(huge.convert(0, to: tiny) == 0)
    }
}
