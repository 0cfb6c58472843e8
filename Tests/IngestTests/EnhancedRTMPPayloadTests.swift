import Foundation
import Media
import Testing

@testable import Ingest

/// Enhanced RTMP tags around configuration records that real encoders (ffmpeg's libx265, libaom,
/// libvpx, libopus) wrote.
@Suite struct EnhancedRTMPPayloadTests {
    /// Encodes a short clip with ffmpeg; returns the file's bytes.
    static func encode(_ arguments: [String], format: String) async throws -> [UInt8] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ertmp-\(UUID().uuidString).\(format)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let result = try await ToolProcess.run(
            "/usr/bin/ffmpeg", ["-hide_banner", "-loglevel", "error", "-y"] + arguments + ["-f", format, path])
        #expect(result.status == 0, "\(result.stderr)")
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func video(_ codec: [String]) async throws -> [UInt8] {
        try await encode(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "0.2"] + codec, format: "mp4")
    }

    /// The payload of the first ISO BMFF box of `type` in `file`.
    static func box(_ type: String, in file: [UInt8]) throws -> [UInt8] {
        let name = Array(type.utf8)
        for index in 4..<(file.count - 4) where Array(file[index..<index + 4]) == name {
            let size = file[index - 4..<index].reduce(0) { $0 << 8 | Int($1) }
            guard size >= 8, index - 4 + size <= file.count else { continue }
            return Array(file[index + 4..<index - 4 + size])
        }
        throw MediaFormatError("test file", "no '\(type)' box")
    }

    static func hvcC() async throws -> [UInt8] {
        try box("hvcC", in: try await video(["-c:v", "libx265", "-x265-params", "log-level=error", "-tag:v", "hvc1"]))
    }

    static func opusHead() async throws -> [UInt8] {
        let ogg = try await encode(
            ["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "0.1", "-c:a", "libopus", "-ac", "2"], format: "ogg")
        let start = try #require((0..<(ogg.count - 8)).first { Array(ogg[$0..<$0 + 8]) == Array("OpusHead".utf8) })
        return Array(ogg[start..<start + 19])
    }

    static func exVideo(_ packetType: UInt8, key: Bool = true, _ fourCC: String, _ body: [UInt8]) -> [UInt8] {
        [0x80 | (key ? 0x10 : 0x20) | packetType] + Array(fourCC.utf8) + body
    }

    static func exAudio(_ packetType: UInt8, _ fourCC: String, _ body: [UInt8]) -> [UInt8] {
        [0x90 | packetType] + Array(fourCC.utf8) + body
    }

    static func refusal(_ body: [UInt8], video: Bool = true) -> String? {
        do {
            _ = video ? try FLVMediaPayload.parseVideo(body) : try FLVMediaPayload.parseAudio(body)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func hevcSequenceStartAndFramesFromLibx265() async throws {
        let record = try await Self.hvcC()
        guard case .hevcSequenceStart(let parsed) = try FLVMediaPayload.parseVideo(Self.exVideo(0, "hvc1", record)) else {
            Issue.record("no HEVC sequence start")
            return
        }
        #expect(parsed.bytes == record)
        #expect(parsed.lengthSize == 4)
        #expect(parsed.arrays.map(\.type).starts(with: [32, 33, 34]))
        #expect(parsed.generalProfileIDC == 1)  // Main

        // CodedFrames carry a composition time for hvc1; CodedFramesX do not.
        let nal: [UInt8] = [0, 0, 0, 3, 0x26, 0x01, 0xAF]
        let frame = try FLVMediaPayload.parseVideo(Self.exVideo(1, "hvc1", [0, 0, 66] + nal))
        #expect(frame == .videoFrame(codec: .hevc, isKeyframe: true, compositionTime: 66, data: nal))
        let negative = try FLVMediaPayload.parseVideo(Self.exVideo(1, key: false, "hvc1", [0xFF, 0xFF, 0xDF] + nal))
        #expect(negative == .videoFrame(codec: .hevc, isKeyframe: false, compositionTime: -33, data: nal))
        let framesX = try FLVMediaPayload.parseVideo(Self.exVideo(3, key: false, "hvc1", nal))
        #expect(framesX == .videoFrame(codec: .hevc, isKeyframe: false, compositionTime: 0, data: nal))
        #expect(try FLVMediaPayload.parseVideo(Self.exVideo(2, "hvc1", [])) == .ignorable)
    }

    @Test func av1AndVP9SequenceStartsFromLibaomAndLibvpx() async throws {
        let av1C = try Self.box("av1C", in: try await Self.video(["-c:v", "libaom-av1", "-cpu-used", "8", "-g", "30"]))
        guard case .av1SequenceStart(let av1) = try FLVMediaPayload.parseVideo(Self.exVideo(0, "av01", av1C)) else {
            Issue.record("no AV1 sequence start")
            return
        }
        #expect(av1.profile == 0 && av1.bitDepth == 8 && !av1.isMonochrome)
        #expect(av1.bytes == av1C)
        // AV1 CodedFrames have no composition time: the OBUs start right after the FourCC.
        let obus: [UInt8] = [0x12, 0x00, 0x32, 0x01, 0x10]
        #expect(
            try FLVMediaPayload.parseVideo(Self.exVideo(1, "av01", obus))
                == .videoFrame(codec: .av1, isKeyframe: true, compositionTime: 0, data: obus))

        // MP4's vpcC box keeps its version and flags in front of the record; both forms are read.
        let vpcC = try Self.box("vpcC", in: try await Self.video(["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"]))
        for body in [vpcC, Array(vpcC.dropFirst(4))] {
            guard case .vp9SequenceStart(let vp9) = try FLVMediaPayload.parseVideo(Self.exVideo(0, "vp09", body)) else {
                Issue.record("no VP9 sequence start from \(body)")
                return
            }
            #expect(vp9.profile == 0 && vp9.bitDepth == 8)
        }
        #expect(
            try FLVMediaPayload.parseVideo(Self.exVideo(3, key: false, "vp09", [1, 2]))
                == .videoFrame(codec: .vp9, isKeyframe: false, compositionTime: 0, data: [1, 2]))
    }

    @Test func opusAndAACOverTheAudioExHeader() async throws {
        let head = try await Self.opusHead()
        guard case .opusSequenceStart(let opus) = try FLVMediaPayload.parseAudio(Self.exAudio(0, "Opus", head)) else {
            Issue.record("no Opus sequence start")
            return
        }
        #expect(opus.channelCount == 2 && opus.inputSampleRate == 48000 && opus.preSkip == 312 && opus.bytes == head)
        #expect(try FLVMediaPayload.parseAudio(Self.exAudio(1, "Opus", [0xFC, 1, 2])) == .opusFrame([0xFC, 1, 2]))
        #expect(try FLVMediaPayload.parseAudio(Self.exAudio(4, "Opus", [0, 2])) == .ignorable)  // MultichannelConfig

        #expect(
            try FLVMediaPayload.parseAudio(Self.exAudio(0, "mp4a", [0x12, 0x10]))
                == .aacSequenceHeader(try AudioSpecificConfig(parsing: [0x12, 0x10])))
        #expect(try FLVMediaPayload.parseAudio(Self.exAudio(1, "mp4a", [7, 8])) == .aacFrame([7, 8]))
        // ModEx data (a nanosecond timestamp offset) in front of the real packet type is skipped.
        #expect(try FLVMediaPayload.parseAudio([0x97, 2, 0, 0, 1, 0x01] + Array("Opus".utf8) + [9]) == .opusFrame([9]))
    }

    /// H.264 may come through the ex header too (`avc1`), with the records of a legacy tag.
    @Test func avc1OverTheExHeaderReadsLikeALegacyTag() async throws {
        let tags = try FLVFile.tags(try await FLVMediaPayloadTests.makeFLV(video: ["-c:v", "libx264", "-bf", "2"], audio: false))
        let header = try #require(tags.first { $0.type == 9 && $0.body.count > 5 && $0.body[1] == 0 })
        let legacy = try FLVMediaPayload.parseVideo(header.body)
        #expect(try FLVMediaPayload.parseVideo(Self.exVideo(0, "avc1", Array(header.body.dropFirst(5)))) == legacy)
        #expect(
            try FLVMediaPayload.parseVideo(Self.exVideo(1, "avc1", [0, 0, 40, 0, 0, 0, 1, 9]))
                == .avcFrame(isKeyframe: true, compositionTime: 40, data: [0, 0, 0, 1, 9]))
        #expect(
            try FLVMediaPayload.parseVideo(Self.exVideo(3, key: false, "avc1", [0, 0, 0, 1, 9]))
                == .avcFrame(isKeyframe: false, compositionTime: 0, data: [0, 0, 0, 1, 9]))
        // A command frame carries a command byte, not a FourCC.
        #expect(try FLVMediaPayload.parseVideo([0x80 | 0x50 | 1, 0]) == .ignorable)
    }

    @Test func truncatedAndGarbledExHeadersAreRefusedWithWhatToDo() async throws {
        let hvcC = try await Self.hvcC()
        let head = try await Self.opusHead()
        let cases: [(body: [UInt8], video: Bool, expected: String)] = [
            ([0x90, 0x68, 0x76], true, "ends before its FourCC"),
            ([0x90], true, "ends before its FourCC"),
            ([0x90, 0x4F], false, "ends before its FourCC"),
            (Self.exVideo(1, "hvc1", [0, 1]), true, "ends before its composition time"),
            (Self.exVideo(0, "hvc1", Array(hvcC.prefix(30))), true, "HEVC sequence start: malformed HEVCDecoderConfigurationRecord"),
            (Self.exVideo(0, "hvc1", [0] + hvcC.dropFirst()), true, "configurationVersion 0"),
            (Self.exVideo(0, "av01", [0x01, 0, 0, 0]), true, "AV1 sequence start: malformed AV1CodecConfigurationRecord"),
            (Self.exVideo(0, "av01", [0x81, 0]), true, "AV1 sequence start"),
            (Self.exVideo(0, "vp09", [0, 10, 0x80]), true, "VP9 sequence start"),
            (Self.exAudio(0, "Opus", Array(head.prefix(12))), false, "Opus sequence start: malformed Opus identification header"),
            (Self.exAudio(0, "Opus", Array("OggS".utf8) + head.dropFirst(4)), false, "does not start with 'OpusHead'"),
            ([0x87, 5, 1], true, "ends inside its ModEx data"),
            ([0x8F] + Array("hvc1".utf8), true, "unknown Enhanced RTMP video packet type 15"),
        ]
        for (body, video, expected) in cases {
            let refusal = Self.refusal(body, video: video)
            #expect(refusal?.contains(expected) == true, "\(body.prefix(8)): \(refusal ?? "accepted")")
            #expect(refusal.map { $0.contains("encoder") || $0.contains("H.264") } == true, "says what to do: \(refusal ?? "")")
        }
    }

    @Test func unknownCodecsMultitrackAndTSSequenceStartsAreRefusedByName() throws {
        let vp8 = Self.refusal(Self.exVideo(0, "vp08", [1, 2, 3]))
        #expect(vp8?.contains("'vp08'") == true && vp8?.contains("HEVC, AV1 and VP9") == true, "\(vp8 ?? "")")
        let binary = Self.refusal([0x90, 0x00, 0xFF, 0x10, 0x7F])
        #expect(binary?.contains("0x00ff107f") == true, "\(binary ?? "")")
        let flac = Self.refusal(Self.exAudio(0, "fLaC", [0]), video: false)
        #expect(flac?.contains("'fLaC'") == true && flac?.contains("Opus") == true, "\(flac ?? "")")
        #expect(Self.refusal([0x80 | 0x10 | 6, 0x00] + Array("hvc1".utf8))?.contains("multitrack video is not supported") == true)
        #expect(Self.refusal([0x95, 0x00] + Array("Opus".utf8), video: false)?.contains("multitrack audio is not supported") == true)
        #expect(Self.refusal(Self.exVideo(5, "av01", [1]))?.contains("MPEG2TSSequenceStart is not supported") == true)
        #expect(Self.refusal([0x9D, 0x00], video: false) != nil)  // AudioPacketType 13 is not defined
        #expect(Self.refusal([0x1C, 0x00, 0, 0, 0, 5])?.contains("HEVC with the legacy FLV id 12") == true)
    }

    /// Every prefix of every good tag parses or is refused; none traps.
    @Test func everyPrefixOfAGoodTagParsesOrIsRefused() async throws {
        let hvcC = try await Self.hvcC()
        let head = try await Self.opusHead()
        let tags: [([UInt8], Bool)] = [
            (Self.exVideo(0, "hvc1", hvcC), true), (Self.exVideo(1, "hvc1", [0, 0, 1, 0, 0, 0, 1, 0x26]), true),
            (Self.exVideo(0, "av01", [0x81, 0, 0x0C, 0, 0x0A, 0x0B, 0, 0, 0, 0x24]), true),
            (Self.exVideo(0, "vp09", [1, 0, 0, 0, 0, 10, 0x80, 2, 2, 2, 0, 0]), true),
            (Self.exAudio(0, "Opus", head), false), ([0x97, 2, 0, 0, 1, 0x01] + Array("Opus".utf8) + [9], false),
        ]
        for (tag, video) in tags {
            for end in 0...tag.count {
                let prefix = Array(tag[..<end])
                _ = try? (video ? FLVMediaPayload.parseVideo(prefix) : FLVMediaPayload.parseAudio(prefix))
            }
        }
    }

    @Test func connectWithFourCcListIsAnsweredWithTheCodecsStreamdTakes() {
        var session = RTMPSession()
        let offered: [AMF0Value] = ["hvc1", "av01", "fLaC", "Opus", "vvc1"].map { .string($0) }
        let actions = session.receive(
            RTMPSessionTests.command([
                .string("connect"), .number(1), .object(["app": .string("live"), "fourCcList": .strictArray(offered)]),
            ]))
        let result = RTMPSessionTests.sent(actions).first
        #expect(result?[2].object?["fourCcList"] == .strictArray([.string("hvc1"), .string("av01"), .string("Opus")]))
        #expect(session.state == .connected(application: "live"))

        var any = RTMPSession()
        let anyResult = RTMPSessionTests.sent(
            any.receive(
                RTMPSessionTests.command([
                    .string("connect"), .number(1), .object(["app": .string("live"), "fourCcList": .strictArray([.string("*")])]),
                ]))
        ).first
        #expect(anyResult?[2].object?["fourCcList"] == .strictArray(FLVMediaPayload.enhancedFourCCs.map { .string($0) }))
        // Something else in its place is ignored, and a plain connect gets the plain answer.
        var odd = RTMPSession()
        let oddResult = RTMPSessionTests.sent(
            odd.receive(
                RTMPSessionTests.command([
                    .string("connect"), .number(1), .object(["app": .string("live"), "fourCcList": .string("hvc1")]),
                ]))
        ).first
        #expect(oddResult?[2].object?["fourCcList"] == nil)
        #expect(odd.state == .connected(application: "live"))
    }

    static func publishing() -> RTMPSession {
        var session = RTMPSessionTests.connected()
        _ = session.receive(RTMPSessionTests.command([.string("createStream"), .number(2), .null]))
        _ = session.receive(RTMPSessionTests.command([.string("publish"), .number(3), .null, .string("KEY"), .string("live")], stream: 1))
        _ = session.publishAccepted()
        return session
    }

    static func media(_ type: UInt8, _ timestamp: UInt32, _ payload: [UInt8]) -> RTMPMessage {
        RTMPMessage(typeID: type, timestamp: timestamp, messageStreamID: 1, chunkStreamID: 6, payload: payload)
    }

    @Test func aPublishedHEVCAndOpusStreamBecomesTracksAndPackets() async throws {
        let hvcC = try await Self.hvcC()
        let head = try await Self.opusHead()
        var session = Self.publishing()
        let metadata = RTMPMessage(
            typeID: 18, messageStreamID: 1, chunkStreamID: 4,
            payload: AMF0Encoder.encode([
                .string("@setDataFrame"), .string("onMetaData"),
                .ecmaArray([
                    "videocodecid": .number(0x6876_6331), "audiocodecid": .string("Opus"), "width": .number(320), "height": .number(240),
                ]),
            ]))
        #expect(session.receive(metadata).isEmpty)
        let video = session.receive(Self.media(9, 0, Self.exVideo(0, "hvc1", hvcC)))
        guard case .media(.track(let track)) = video.first else {
            Issue.record("no video track: \(video)")
            return
        }
        #expect(track.codec == .hevc && track.configuration == .opaque(hvcC) && track.width == 320 && track.height == 240)
        let audio = session.receive(Self.media(8, 0, Self.exAudio(0, "Opus", head)))
        guard case .media(.track(let audioTrack)) = audio.first else {
            Issue.record("no audio track: \(audio)")
            return
        }
        #expect(
            audioTrack.codec == .opus && audioTrack.sampleRate == 48000 && audioTrack.channels == 2
                && audioTrack.configuration == .opaque(head))
        let frame = session.receive(Self.media(9, 40, Self.exVideo(1, "hvc1", [0, 0, 33, 0, 0, 0, 1, 0x26])))
        #expect(frame.contains { if case .ready = $0 { true } else { false } })
        let packets = frame.compactMap { if case .media(.packet(let packet)) = $0 { packet } else { nil } }
        #expect(packets.map(\.pts) == [73] && packets.map(\.dts) == [40] && packets.first?.isKeyframe == true)
        let opus = session.receive(Self.media(8, 60, Self.exAudio(1, "Opus", [0xFC, 0xFF])))
        let opusPackets = opus.compactMap { if case .media(.packet(let packet)) = $0 { packet } else { nil } }
        #expect(opusPackets.map(\.pts) == [60] && opusPackets.map(\.data) == [[0xFC, 0xFF]] && opusPackets.first?.track == .audio)
    }

    @Test func aDamagedExHeaderEndsThePublishAndTellsTheEncoderWhy() {
        var session = Self.publishing()
        let actions = session.receive(Self.media(9, 0, [0x90, 0x68, 0x76]))
        let status = RTMPSessionTests.sent(actions).first
        #expect(status?[3].object?["code"] == .string("NetStream.Publish.Failed"))
        #expect(status?[3].object?["description"]?.string?.contains("ends before its FourCC") == true, "\(String(describing: status))")
        #expect(session.state == .closed)
    }
}
