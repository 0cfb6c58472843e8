import Media
import Testing

@testable import Packager

@Suite struct CMAFInitSegmentTests {
    static let highRecord = KnownParameterSets.record(sps: KnownParameterSets.highSPS, pps: KnownParameterSets.highPPS)

    static func videoTrack(timebase: Timebase = .milliseconds, width: Int? = 1920, height: Int? = 1080) -> TrackInfo {
        TrackInfo(
            kind: .video, codec: .h264, configuration: .avc(highRecord), timebase: timebase, width: width, height: height, frameRate: 30)
    }

    static let audioTrack = TrackInfo(
        kind: .audio, codec: .aac, configuration: .aac(AudioSpecificConfig(objectType: 2, sampleRate: 48000, channelConfiguration: 2)),
        timebase: .milliseconds, sampleRate: 48000, channels: 2, bitrate: 128_000
    )

    @Test func videoTree() throws {
        let segment = try CMAFInitSegment(track: Self.videoTrack())
        let boxes = try TestBoxParser.parse(segment.bytes)
        #expect(boxes.map(\.type) == ["ftyp", "moov"])
        let ftyp = boxes[0]
        #expect(TestBytes.fourCC(ftyp.body, 0) == "iso6")
        #expect(TestBytes.u32(ftyp.body, 4) == 0)
        #expect([8, 12, 16].map { TestBytes.fourCC(ftyp.body, $0) } == ["iso6", "cmfc", "mp41"])

        let moov = boxes[1]
        #expect(moov.children.map(\.type) == ["mvhd", "trak", "mvex"])
        #expect(moov.find("trak")?.children.map(\.type) == ["tkhd", "mdia"])
        #expect(moov.find("trak/mdia")?.children.map(\.type) == ["mdhd", "hdlr", "minf"])
        #expect(moov.find("trak/mdia/minf")?.children.map(\.type) == ["vmhd", "dinf", "stbl"])
        #expect(moov.find("trak/mdia/minf/stbl")?.children.map(\.type) == ["stsd", "stts", "stsc", "stsz", "stco"])
        #expect(moov.find("trak/mdia/minf/dinf/dref")?.children.map(\.type) == ["url "])

        let mvhd = try #require(moov.child("mvhd"))
        #expect(TestBytes.u32(mvhd.fullBody, 8) == 90000)
        #expect(TestBytes.u32(mvhd.fullBody, 92) == 2)  // next_track_ID
        let tkhd = try #require(moov.find("trak/tkhd"))
        #expect(tkhd.flags == 3)
        #expect(TestBytes.u32(tkhd.fullBody, 8) == 1)  // track_ID
        #expect(TestBytes.u32(tkhd.fullBody, 72) == 1920 << 16)
        #expect(TestBytes.u32(tkhd.fullBody, 76) == 1080 << 16)
        let mdhd = try #require(moov.find("trak/mdia/mdhd"))
        #expect(TestBytes.u32(mdhd.fullBody, 8) == 90000)
        #expect(segment.timescale == 90000)
        let hdlr = try #require(moov.find("trak/mdia/hdlr"))
        #expect(TestBytes.fourCC(hdlr.fullBody, 4) == "vide")

        let avc1 = try #require(moov.find("trak/mdia/minf/stbl/stsd/avc1"))
        #expect(TestBytes.u16(avc1.body, 6) == 1)  // data_reference_index
        #expect(TestBytes.u16(avc1.body, 24) == 1920)
        #expect(TestBytes.u16(avc1.body, 26) == 1080)
        let avcC = try #require(avc1.child("avcC"))
        // The record, then the High-profile extension: 4:2:0, 8-bit luma and chroma, no SPS extensions.
        #expect(Array(avcC.body) == Self.highRecord.serialized() + [0xFD, 0xF8, 0xF8, 0x00])
        let parsed = try AVCDecoderConfigurationRecord(parsing: Array(avcC.body))
        #expect(parsed == Self.highRecord)

        let trex = try #require(moov.find("mvex/trex"))
        #expect(TestBytes.u32(trex.fullBody, 0) == 1)
        #expect(TestBytes.u32(trex.fullBody, 4) == 1)
        #expect(segment.codecString == "avc1.640028")
    }

    @Test func pictureSizeFallsBackToTheSPS() throws {
        let segment = try CMAFInitSegment(track: Self.videoTrack(width: nil, height: nil))
        #expect(segment.width == 1920)
        #expect(segment.height == 1080)
    }

    @Test func audioTree() throws {
        let segment = try CMAFInitSegment(track: Self.audioTrack)
        #expect(segment.timescale == 48000)
        #expect(segment.codecString == "mp4a.40.2")
        let moov = try #require(try TestBoxParser.parse(segment.bytes).last)
        #expect(moov.find("trak/mdia/minf")?.children.map(\.type) == ["smhd", "dinf", "stbl"])
        #expect(TestBytes.fourCC(try #require(moov.find("trak/mdia/hdlr")).fullBody, 4) == "soun")
        #expect(TestBytes.u32(try #require(moov.find("trak/mdia/mdhd")).fullBody, 8) == 48000)
        let tkhd = try #require(moov.find("trak/tkhd"))
        #expect(TestBytes.u16(tkhd.fullBody, 32) == 0x0100)  // volume

        let mp4a = try #require(moov.find("trak/mdia/minf/stbl/stsd/mp4a"))
        #expect(TestBytes.u16(mp4a.body, 16) == 2)  // channelcount
        #expect(TestBytes.u16(mp4a.body, 18) == 16)  // samplesize
        #expect(TestBytes.u32(mp4a.body, 24) == 48000 << 16)
        let esds = try #require(mp4a.child("esds"))
        let asc = AudioSpecificConfig(objectType: 2, sampleRate: 48000, channelConfiguration: 2).bytes
        let d = Array(esds.fullBody)
        // ES_Descriptor(3) { ES_ID 0, flags 0, DecoderConfigDescriptor(4) { 0x40, 0x15, buffer 0, max, avg,
        //   DecoderSpecificInfo(5) { ASC } }, SLConfigDescriptor(6) { 2 } }
        let ascLength = UInt8(asc.count)
        var expected: [UInt8] = [0x03, 23 + ascLength, 0, 0, 0]
        expected += [0x04, 15 + ascLength, 0x40, 0x15, 0, 0, 0]
        expected += [0x00, 0x01, 0xF4, 0x00, 0x00, 0x01, 0xF4, 0x00]
        expected += [0x05, ascLength]
        expected += asc
        expected += [0x06, 0x01, 0x02]
        #expect(d == expected)
    }

    @Test func timescales() {
        func video(_ timebase: Timebase) -> UInt32 { CMAFInitSegment.timescale(for: Self.videoTrack(timebase: timebase)) }
        #expect(video(.milliseconds) == 90000)
        #expect(video(.mpeg90kHz) == 90000)
        #expect(video(Timebase(1001, 30000)) == 90000)
        #expect(video(.microseconds) == 1_000_000)
        #expect(video(Timebase(1, 180_000)) == 180_000)
        #expect(video(Timebase(3, 1_000_000)) == 1_000_000)
        #expect(CMAFInitSegment.timescale(for: Self.audioTrack) == 48000)
    }

    @Test func unsupportedTracksSayWhatToDo() {
        let opus = TrackInfo(kind: .audio, codec: .opus, configuration: .opaque([1, 2]), timebase: .milliseconds, sampleRate: 48000)
        #expect(throws: CMAFError.self) { try CMAFInitSegment(track: opus) }
        let noConfig = TrackInfo(kind: .video, codec: .h264, timebase: .milliseconds, width: 640, height: 360)
        do {
            _ = try CMAFInitSegment(track: noConfig)
            Issue.record("a track without avcC was accepted")
        } catch {
            #expect(error.description.contains("transcode"))
        }
    }
}
