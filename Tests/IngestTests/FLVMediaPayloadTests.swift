import Foundation
import Media
import Testing

@testable import Ingest

/// Reads the tags of an FLV file that the real ffmpeg wrote.
struct FLVFile {
    struct Tag {
        var type: UInt8
        var timestamp: UInt32
        var body: [UInt8]
    }

    static func tags(_ bytes: [UInt8]) throws -> [Tag] {
        var reader = ByteReader(bytes, structure: "FLV")
        guard try reader.bytes(3) == Array("FLV".utf8) else { throw MediaFormatError("FLV", "no signature") }
        try reader.skip(2)
        let headerSize = Int(try reader.u32())
        try reader.skip(headerSize - 9 + 4)
        var tags: [Tag] = []
        while reader.remaining >= 11 {
            let type = try reader.u8() & 0x1F
            let size = Int(try reader.u24())
            let low = try reader.u24()
            let high = UInt32(try reader.u8())
            try reader.skip(3)
            let body = try reader.bytes(size)
            try reader.skip(4)
            tags.append(Tag(type: type, timestamp: high << 24 | low, body: body))
        }
        return tags
    }
}

@Suite struct FLVMediaPayloadTests {
    static func makeFLV(video: [String], size: String = "640x360", audio: Bool = true) async throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-\(UUID().uuidString).flv").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var arguments = ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=30"]
        if audio { arguments += ["-f", "lavfi", "-i", "sine=sample_rate=44100"] }
        arguments += ["-t", "1"] + video
        if audio { arguments += ["-c:a", "aac", "-ac", "1"] }
        arguments += ["-f", "flv", path]
        let result = try await ToolProcess.run("/usr/bin/ffmpeg", arguments)
        #expect(result.status == 0, "\(result.stderr)")
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func parsesH264AndAACFromARealFLV() async throws {
        let tags = try FLVFile.tags(try await Self.makeFLV(video: ["-c:v", "libx264", "-bf", "2", "-g", "15"], size: "854x480"))
        var record: AVCDecoderConfigurationRecord?
        var config: AudioSpecificConfig?
        var frames: [(Bool, Int32)] = []
        var audioFrames = 0
        for tag in tags {
            let payload: FLVMediaPayload
            switch tag.type {
            case 9: payload = try FLVMediaPayload.parseVideo(tag.body)
            case 8: payload = try FLVMediaPayload.parseAudio(tag.body)
            default: continue
            }
            switch payload {
            case .avcSequenceHeader(let value): record = value
            case .aacSequenceHeader(let value): config = value
            case .avcFrame(let key, let composition, let data):
                frames.append((key, composition))
                #expect(data.count > 4)
            case .aacFrame: audioFrames += 1
            default: break
            }
        }
        let sps = try #require(record?.sequenceParameterSets.first)
        let parsed = try H264SequenceParameterSet(parsing: sps)
        #expect(parsed.width == 854)
        #expect(parsed.height == 480)
        #expect(config?.sampleRate == 44100)
        #expect(config?.channelConfiguration == 1)
        #expect(frames.count == 30)
        #expect(frames.first?.0 == true)
        #expect(frames.filter(\.0).count == 2)
        #expect(frames.contains { $0.1 > 0 }, "B-frames give positive composition times")
        #expect(audioFrames >= 40)
    }

    @Test func otherCodecsAreRefusedWithAnExplanation() async throws {
        let tags = try FLVFile.tags(try await Self.makeFLV(video: ["-c:v", "flv"], audio: false))
        let video = try #require(tags.first { $0.type == 9 })
        do {
            _ = try FLVMediaPayload.parseVideo(video.body)
            Issue.record("Sorenson accepted")
        } catch {
            #expect(error.description.contains("Sorenson H.263"))
            #expect(error.description.contains("H.264"))
        }
        // Enhanced RTMP (IsExHeader bit + FourCC) whose configuration record is garbage.
        for (fourCC, name) in [("hvc1", "HEVC sequence start"), ("av01", "AV1 sequence start")] {
            do {
                _ = try FLVMediaPayload.parseVideo([0x90] + Array(fourCC.utf8) + [0, 0, 0])
                Issue.record("\(fourCC) accepted")
            } catch {
                #expect(error.description.contains(name))
            }
        }
        #expect(throws: RTMPProtocolError.self) { try FLVMediaPayload.parseAudio([0x2F, 0xFF, 0xFB]) }  // MP3
        #expect(throws: RTMPProtocolError.self) { try FLVMediaPayload.parseAudio([0x9F] + Array("Opus".utf8)) }
    }

    @Test func truncatedTagsAreTypedErrors() throws {
        #expect(throws: RTMPProtocolError.self) { try FLVMediaPayload.parseVideo([0x17, 0x01]) }
        #expect(throws: RTMPProtocolError.self) { try FLVMediaPayload.parseVideo([0x17, 0x00, 0, 0, 0, 0x01, 0x64]) }
        #expect(throws: RTMPProtocolError.self) { try FLVMediaPayload.parseAudio([0xAF]) }
        #expect(throws: RTMPProtocolError.self) { try FLVMediaPayload.parseAudio([0xAF, 0x00, 0x12]) }
        #expect(try FLVMediaPayload.parseVideo([]) == .ignorable)
        #expect(try FLVMediaPayload.parseVideo([0x57, 0x00]) == .ignorable)
        // Negative composition time is sign-extended.
        #expect(
            try FLVMediaPayload.parseVideo([0x27, 0x01, 0xFF, 0xFF, 0xDF, 0, 0, 0, 1, 0x41])
                == .avcFrame(isKeyframe: false, compositionTime: -33, data: [0, 0, 0, 1, 0x41]))
    }
}
