import Foundation
import Media
import Testing
import TranscodeFiles

@testable import Transcode

/// End to end: files made by the ffmpeg CLI, transcoded in process, written with `FileSink` and
/// checked with ffprobe. Serialized: each case already uses both cores.
@Suite("Ladder from real files", .serialized)
struct LadderTests {
    @Test func h264At1080pIsPassedThroughWithAlignedEncodedRungs() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.mp4")
        try MediaTools.makeClip(
            source, width: 1920, height: 1080, seconds: 4, videoCodec: MediaTools.h264(gop: 60), audioCodec: MediaTools.aac)

        let run = await TranscodeRun.transcode(FileSource(path: source.path))
        #expect(run.error == nil)
        #expect(run.videoNames == ["1080p", "720p", "480p", "360p"])
        #expect(run.outputs["1080p"]?.rendition.isPassthrough == true)
        #expect(run.outputs["audio"]?.rendition.isPassthrough == true)
        let files = try run.write(to: folder)

        let expected: [String: (Int, Int, Double, String)] = [
            "1080p": (1920, 1080, 30, "High"), "720p": (1280, 720, 30, "High"),
            "480p": (854, 480, 24, "Main"), "360p": (640, 360, 24, "Main"),
        ]
        var keyframes: [String: [Double]] = [:]
        for (name, (width, height, rate, profile)) in expected {
            let file = try #require(files[name])
            let streams = try MediaTools.streams(file)
            let video = try #require(streams.first { $0.codec_type == "video" })
            #expect(video.width == width && video.height == height, "\(name)")
            #expect(abs((video.frameRate ?? 0) - rate) < 0.6, "\(name) runs at \(video.frameRate ?? 0) fps")
            if name != "1080p" {
                #expect(video.profile == profile, "\(name)")
                #expect(video.has_b_frames == 0)
            }
            let audio = try #require(streams.first { $0.codec_type == "audio" })
            #expect(audio.codec_name == "aac")
            let videoStart = try #require(MediaTools.packets(file, stream: "v:0").map(\.pts).min())
            let audioStart = try #require(MediaTools.packets(file, stream: "a:0").map(\.pts).min())
            #expect(abs(videoStart - audioStart) <= 0.05, "\(name): video starts at \(videoStart), audio at \(audioStart)")
            keyframes[name] = try MediaTools.keyframeTimes(file)
        }
        #expect(keyframes["1080p"] == [0, 2])
        for name in ["720p", "480p", "360p"] { #expect(keyframes[name] == keyframes["1080p"], "\(name): \(keyframes[name] ?? [])") }
        #expect(run.started("720p").first?.reason == .streamStarted)
        #expect(run.stopped("360p").first?.reason == .streamEnded)
        #expect(run.started("1080p").first?.passthrough == true)
    }

    @Test func a720pSourceWithKeyframesEvery1_5sGetsNoHigherRung() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.mp4")
        try MediaTools.makeClip(
            source, width: 1280, height: 720, seconds: 4, videoCodec: MediaTools.h264(gop: 45), audioCodec: MediaTools.aac)

        let run = await TranscodeRun.transcode(FileSource(path: source.path))
        #expect(run.error == nil)
        #expect(run.videoNames == ["720p", "480p", "360p"])
        #expect(run.outputs["720p"]?.rendition.isPassthrough == true)
        let files = try run.write(to: folder)
        let top = try MediaTools.keyframeTimes(try #require(files["720p"]))
        #expect(top == [0, 1.5, 3])
        for name in ["480p", "360p"] {
            let file = try #require(files[name])
            #expect(try MediaTools.keyframeTimes(file) == top, "\(name)")
            let video = try #require(try MediaTools.streams(file).first { $0.codec_type == "video" })
            #expect((video.height ?? 0) < 720)
        }
    }

    @Test func bFramesSourceWithMP3AudioIsAlignedAndReencodedToAAC() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.mp4")
        try MediaTools.makeClip(
            source, width: 854, height: 480, seconds: 4, videoCodec: MediaTools.h264(gop: 60, bframes: 2),
            audioCodec: ["-c:a", "libmp3lame", "-b:a", "128k", "-ar", "44100"]
        )
        let sourceVideo = try #require(try MediaTools.streams(source).first { $0.codec_type == "video" })
        #expect((sourceVideo.has_b_frames ?? 0) > 0)

        let run = await TranscodeRun.transcode(FileSource(path: source.path))
        #expect(run.error == nil)
        #expect(run.videoNames == ["480p", "360p"])
        #expect(run.outputs["480p"]?.rendition.isPassthrough == true)
        #expect(run.outputs["audio"]?.rendition.isPassthrough == false)
        let audioTrack = try #require(run.outputs["audio"]?.track)
        #expect(audioTrack.codec == .aac && audioTrack.sampleRate == 48_000 && audioTrack.channels == 2)
        let packets = try #require(run.outputs["360p"]?.packets)
        #expect(packets.allSatisfy { $0.pts == $0.dts }, "encoded rungs carry no B-frames")
        let files = try run.write(to: folder)
        let top = try MediaTools.keyframeTimes(try #require(files["480p"]))
        #expect(try MediaTools.keyframeTimes(try #require(files["360p"])) == top)
        let file = try #require(files["360p"])
        let audio = try #require(try MediaTools.streams(file).first { $0.codec_type == "audio" })
        #expect(audio.codec_name == "aac" && audio.sample_rate == "48000" && audio.channels == 2)
        let videoStart = try #require(MediaTools.packets(file, stream: "v:0").map(\.pts).min())
        let audioStart = try #require(MediaTools.packets(file, stream: "a:0").map(\.pts).min())
        #expect(abs(videoStart - audioStart) <= 0.05, "video starts at \(videoStart), audio at \(audioStart)")
    }

    @Test func hevcWithOpusIsEncodedOnATwoSecondGrid() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.mkv")
        try MediaTools.makeClip(
            source, width: 854, height: 480, seconds: 5,
            videoCodec: ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "keyint=150:log-level=error"],
            audioCodec: ["-c:a", "libopus", "-b:a", "96k"]
        )
        let run = await TranscodeRun.transcode(FileSource(path: source.path))
        #expect(run.error == nil)
        #expect(run.videoNames == ["480p", "360p"])
        #expect(run.outputs.values.allSatisfy { !$0.rendition.isPassthrough })
        let files = try run.write(to: folder)
        for name in ["480p", "360p"] {
            let file = try #require(files[name])
            // The grid is anchored at the first frame (Matroska starts this one a few ms in).
            let keys = try MediaTools.keyframeTimes(file)
            let first = keys.first ?? 0
            #expect(keys.map { (($0 - first) * 100).rounded() / 100 } == [0, 2, 4], "\(name): \(keys)")
            let audio = try #require(try MediaTools.streams(file).first { $0.codec_type == "audio" })
            #expect(audio.codec_name == "aac" && audio.sample_rate == "48000")
        }
    }

    @Test func sparseSourceKeyframesFallBackToTheGrid() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.mp4")
        try MediaTools.makeClip(
            source, width: 854, height: 480, seconds: 7, videoCodec: MediaTools.h264(gop: 300), audioCodec: MediaTools.aac)
        let run = await TranscodeRun.transcode(FileSource(path: source.path))
        #expect(run.error == nil)
        #expect(run.videoNames == ["480p", "360p"])
        #expect(run.outputs.values.allSatisfy { $0.rendition.kind == .audio || !$0.rendition.isPassthrough })
        let files = try run.write(to: folder)
        // Undecided for the first 4 s: the grid, and the top rung, start with the decision.
        let low = try MediaTools.keyframeTimes(try #require(files["360p"]))
        let top = try MediaTools.keyframeTimes(try #require(files["480p"]))
        #expect(low.first == 0)
        #expect(low.count >= 3)
        #expect(Array(low.drop { $0 < (top.first ?? 0) }) == top)
        #expect(abs((top.first ?? 0) - 4.03) < 0.02, "\(top)")
        #expect(zip(top, top.dropFirst()).allSatisfy { abs($1 - $0 - 2) < 0.02 }, "2 s apart: \(top)")
    }

    @Test func aPassthroughWhoseKeyframesGrowSparseIsRetiredAndTheRungsKeepTheGrid() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.mp4")
        // Keyframes at 0, 2 and 4 s, then none until the end at 12 s (an encoder whose settings changed).
        let video = MediaTools.h264(gop: 600) + ["-force_key_frames", "expr:lte(n,120)*eq(mod(n,60),0)"]
        try MediaTools.makeClip(source, width: 854, height: 480, seconds: 12, videoCodec: video, audioCodec: MediaTools.aac)
        let run = await TranscodeRun.transcode(FileSource(path: source.path))
        #expect(run.error == nil)
        #expect(run.outputs["480p"]?.rendition.isPassthrough == true)
        #expect(run.stopped("480p").map(\.reason) == [.keyframesTooSparse], "\(run.stopped("480p").map(\.reason))")
        let files = try run.write(to: folder)
        let copied = try MediaTools.keyframeTimes(try #require(files["480p"]))
        #expect(copied == [0, 2, 4], "the copy stops before its first over-long GOP: \(copied)")
        // The rung follows the source's keyframes, then the grid as soon as the gap passes 4 s:
        // no GOP longer than the limit plus a frame.
        let rung = try MediaTools.keyframeTimes(try #require(files["360p"]))
        #expect(rung.map { ($0 * 100).rounded() / 100 } == [0, 2, 4, 8.03, 10.03], "\(rung)")
    }

    @Test func bitratesStayWithin15PercentOfTargetOver10Seconds() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = folder.appendingPathComponent("source.mp4")
        try MediaTools.makeClip(
            source, width: 640, height: 360, seconds: 10, videoCodec: MediaTools.h264(gop: 60), audioCodec: MediaTools.aac, noisy: true)
        let ladder = Ladder(
            rungs: [
                Rung(name: "360p", height: 360, frameRate: 30, bitrate: 900_000, priority: 0),
                Rung(name: "240p", height: 240, frameRate: 24, bitrate: 400_000, profile: .main, priority: 1),
            ], allowsPassthrough: false)
        let run = await TranscodeRun.transcode(FileSource(path: source.path), ladder: ladder)
        #expect(run.error == nil)
        let files = try run.write(to: folder)
        for rung in ladder.rungs {
            let packets = try MediaTools.packets(try #require(files[rung.name]), stream: "v:0")
            let rate = Double(packets.reduce(0) { $0 + $1.size } * 8) / 10
            #expect(abs(rate / Double(rung.bitrate) - 1) <= 0.15, "\(rung.name): \(Int(rate)) b/s for \(rung.bitrate)")
        }
    }
}
