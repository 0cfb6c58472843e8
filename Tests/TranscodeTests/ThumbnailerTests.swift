import Foundation
import Media
import TestSupport
import Testing
import TranscodeFiles

@testable import Transcode

@Suite("Thumbnailer", .serialized)
struct ThumbnailerTests {
    /// The video track and video keyframes of a fresh H.264 clip (libx264), as the media path carries them.
    static func keyframes(width: Int, height: Int, seconds: Double = 2, gop: Int = 15) async throws -> (TrackInfo, [MediaPacket]) {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let clip = folder.appendingPathComponent("clip.mp4")
        try MediaTools.makeClip(clip, width: width, height: height, seconds: seconds, videoCodec: MediaTools.h264(gop: gop), audioCodec: [])
        var track: TrackInfo?
        var keyframes: [MediaPacket] = []
        for try await item in FileSource(path: clip.path) {
            switch item {
            case .track(let info) where info.kind == .video: track = info
            case .packet(let packet) where packet.track == .video && packet.isKeyframe: keyframes.append(packet)
            default: break
            }
        }
        return (try #require(track), keyframes)
    }

    /// Width and height from the frame header of a whole JPEG file (SOI … EOI); nil otherwise.
    static func jpegSize(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        guard bytes.starts(with: [0xFF, 0xD8]), bytes.suffix(2).elementsEqual([0xFF, 0xD9]) else { return nil }
        var index = 2
        while index + 9 <= bytes.count, bytes[index] == 0xFF {
            let marker = bytes[index + 1]
            if (0xC0...0xC2).contains(marker) {
                let height = Int(bytes[index + 5]) << 8 | Int(bytes[index + 6])
                let width = Int(bytes[index + 7]) << 8 | Int(bytes[index + 8])
                return (width, height)
            }
            index += 2 + (Int(bytes[index + 2]) << 8 | Int(bytes[index + 3]))
        }
        return nil
    }

    /// The JPEG decoded back with libavcodec's mjpeg decoder.
    static func decodedSize(_ jpeg: [UInt8]) throws -> (width: Int, height: Int)? {
        let decoder = try Decoder(track: TrackInfo(kind: .video, codec: .other("mjpeg"), timebase: Timebase(1, 25)))
        try decoder.send(MediaPacket(track: .video, pts: 0, dts: 0, timebase: Timebase(1, 25), isKeyframe: true, data: jpeg))
        var frame = try decoder.receive()
        if frame == nil {
            try decoder.send(nil)
            frame = try decoder.receive()
        }
        return frame.map { ($0.width, $0.height) }
    }

    @Test func aKeyframeBecomesAJPEGAtMost640WideWithItsAspect() async throws {
        let (track, keyframes) = try await Self.keyframes(width: 1280, height: 720, seconds: 1)
        let keyframe = try #require(keyframes.first)
        let jpeg = try Thumbnailer().jpeg(keyframe: keyframe, track: track)
        #expect((jpeg.width, jpeg.height) == (640, 360))
        let header = try #require(Self.jpegSize(jpeg.bytes), "starts with FFD8, ends with FFD9, has a frame header")
        #expect(header == (640, 360))
        #expect(try Self.decodedSize(jpeg.bytes)! == (640, 360), "libavcodec decodes it back")
        #expect(jpeg.bytes.count > 5_000 && jpeg.bytes.count < 200_000, "\(jpeg.bytes.count) bytes at qscale 5")

        let (square, squareKeyframes) = try await Self.keyframes(width: 1024, height: 768, seconds: 1)
        let fourThree = try Thumbnailer().jpeg(keyframe: try #require(squareKeyframes.first), track: square)
        #expect(Self.jpegSize(fourThree.bytes)! == (640, 480))
    }

    @Test func theSizeKeepsTheDisplayAspectWithEvenSides() {
        #expect(Thumbnailer.size(width: 320, height: 180, sampleAspect: (1, 1), maxWidth: 640) == (320, 180), "smaller: kept")
        #expect(Thumbnailer.size(width: 1920, height: 1080, sampleAspect: (0, 1), maxWidth: 640) == (640, 360), "unknown aspect: square")
        #expect(Thumbnailer.size(width: 720, height: 576, sampleAspect: (64, 45), maxWidth: 640) == (640, 360), "anamorphic 16:9")
        #expect(Thumbnailer.size(width: 333, height: 201, sampleAspect: (1, 1), maxWidth: 640) == (332, 200), "odd sides: even")
        #expect(Thumbnailer.size(width: 854, height: 480, sampleAspect: (1, 1), maxWidth: 640) == (640, 360))
    }

    @Test func anUndecodableKeyframeIsAnErrorNotACrash() async throws {
        let (track, keyframes) = try await Self.keyframes(width: 320, height: 180, seconds: 1)
        let keyframe = try #require(keyframes.first)
        var generator = SeededGenerator(state: 21)
        var garbage = keyframe
        garbage.data = (0..<4_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var empty = keyframe
        empty.data = []
        var truncated = keyframe
        truncated.data = Array(keyframe.data.prefix(12))
        for broken in [garbage, empty, truncated] {
            #expect(throws: ThumbnailError.self) { try Thumbnailer().jpeg(keyframe: broken, track: track) }
        }
        var badConfiguration = track
        badConfiguration.configuration = .opaque([0x01, 0x02])
        badConfiguration.codec = .other("no-such-codec")
        #expect(throws: ThumbnailError.self) { try Thumbnailer().jpeg(keyframe: keyframe, track: badConfiguration) }
    }
}
