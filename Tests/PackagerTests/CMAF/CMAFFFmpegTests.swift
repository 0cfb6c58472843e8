import EventStore
import Foundation
import Media
import Testing

@testable import Packager

/// The real check: init segment + parts of a real x264/AAC stream, read back by ffprobe and
/// decoded by ffmpeg.
@Suite struct CMAFFFmpegTests {
    struct ToolFailure: Error, CustomStringConvertible { var description: String }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cmaf-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func tool(_ name: String, _ arguments: [String]) async throws -> String {
        let result = try await Subprocess.runDetached("/usr/bin/\(name)", arguments)
        guard result.status == 0 else {
            throw ToolFailure(
                description: "\(name) \(arguments.joined(separator: " ")) exited \(result.status): \(result.output.suffix(800))")
        }
        return result.output
    }

    /// 6 s of testsrc2 (320×240, 30 fps, 2 s GOP) and a sine tone, as ffmpeg publishes it in FLV.
    /// Without B-frames x264 is on `ultrafast` (Constrained Baseline), with them on `veryfast`
    /// (High, whose avcC carries the chroma/bit-depth extension).
    static func makeStream(in folder: URL, bframes: Int) async throws -> FLVTestReader {
        let path = folder.appendingPathComponent("source.flv").path
        _ = try await tool(
            "ffmpeg",
            [
                "-hide_banner", "-v", "error", "-y",
                "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine=frequency=440",
                "-t", "6", "-pix_fmt", "yuv420p",
                "-c:v", "libx264", "-preset", bframes == 0 ? "ultrafast" : "veryfast", "-g", "60", "-keyint_min", "60", "-sc_threshold",
                "0", "-bf", "\(bframes)",
                "-c:a", "aac", "-f", "flv", path,
            ])
        return try FLVTestReader(Array(try Data(contentsOf: URL(fileURLWithPath: path))), frameRate: 30)
    }

    struct Probed: Decodable {
        var pts_time: String?
        var dts_time: String?
        var duration_time: String?
        var size: String?
        var flags: String?
        var pts: Double? { pts_time.flatMap(Double.init) }
        var dts: Double? { dts_time.flatMap(Double.init) }
        var duration: Double? { duration_time.flatMap(Double.init) }
        var isKeyframe: Bool { flags?.hasPrefix("K") ?? false }
    }

    static func probe(_ url: URL) async throws -> [Probed] {
        struct Output: Decodable { var packets: [Probed]? }
        let json = try await tool("ffprobe", ["-v", "error", "-show_packets", "-of", "json", url.path])
        return try JSONDecoder().decode(Output.self, from: Data(json.utf8)).packets ?? []
    }

    static func decodes(_ url: URL) async throws {
        let output = try await tool("ffmpeg", ["-hide_banner", "-v", "error", "-i", url.path, "-f", "null", "-"])
        #expect(output.isEmpty, "ffmpeg complained while decoding: \(output)")
    }

    /// Segments a track, writes init + every part to `name`, and returns the file and outputs.
    static func package(
        _ track: TrackInfo, _ packets: [MediaPacket], to url: URL
    ) throws -> (CMAFSegmenter, SegmenterHarness.Run, CMAFInitSegment) {
        let initSegment = try CMAFInitSegment(track: track)
        var segmenter = CMAFSegmenter(track: track)
        let run = SegmenterHarness.run(&segmenter, packets)
        var file = initSegment.bytes
        for part in run.parts { file += part.bytes }
        try Data(file).write(to: url)
        return (segmenter, run, initSegment)
    }

    /// The track's end as ffprobe computes it from the `trun` durations (`duration_ts`, in ticks).
    static func probeEnd(_ url: URL) async throws -> Int64? {
        let csv = try await tool("ffprobe", ["-v", "error", "-show_entries", "stream=duration_ts", "-of", "csv=p=0", url.path])
        return Int64(csv.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Every sample's duration as the parts' `trun`s say.
    static func trunDurations(_ parts: [CMAFChunk]) throws -> [Int64] {
        var durations: [Int64] = []
        for part in parts {
            let trun = try #require(try TestBoxParser.parse(part.bytes).first?.find("traf/trun"))
            let stride = trun.flags & 0x800 != 0 ? 16 : 12
            for i in 0..<Int(TestBytes.u32(trun.fullBody, 0)) {
                durations.append(Int64(TestBytes.u32(trun.fullBody, 8 + i * stride)))
            }
        }
        return durations
    }

    /// What the file must hold for `packets`: ffprobe's DTS, PTS, size and keyframe flag of each
    /// packet match the exact rescale to `timescale`; each sample's `trun` duration is the next
    /// DTS − its own (the last repeats the one before), and ffprobe's track end agrees.
    /// (ffmpeg 5.1 reports video packet durations from the frame rate and AAC ones from the frame
    /// size, not from `trun`, so those fields are not compared.)
    static func expectPackets(
        in url: URL, _ packets: [MediaPacket], parts: [CMAFChunk], timescale: UInt32, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let probed = try await probe(url)
        #expect(probed.count == packets.count, sourceLocation: sourceLocation)
        let out = Timebase(1, Int64(timescale))
        let shift = max(-(packets.first.map { $0.timebase.convert($0.dts, to: out) } ?? 0), 0)
        let dts = packets.map { $0.timebase.convert($0.dts, to: out) + shift }
        let pts = packets.map { $0.timebase.convert($0.pts, to: out) + shift }
        let seconds = { (ticks: Int64) in Double(ticks) / Double(timescale) }
        var mismatches = 0
        for (index, probe) in zip(probed.indices, probed) where index < packets.count {
            let ok =
                abs((probe.dts ?? -1) - seconds(dts[index])) < 2e-6
                && abs((probe.pts ?? -1) - seconds(pts[index])) < 2e-6
                && probe.isKeyframe == packets[index].isKeyframe
                && Int(probe.size ?? "") == packets[index].data.count
            if !ok {
                mismatches += 1
                if mismatches <= 3 {
                    Issue.record(
                        "packet \(index): ffprobe \(probe), expected dts \(seconds(dts[index])) pts \(seconds(pts[index])) key \(packets[index].isKeyframe)",
                        sourceLocation: sourceLocation)
                }
            }
        }
        #expect(mismatches == 0, sourceLocation: sourceLocation)

        var expectedDurations = zip(dts.dropFirst(), dts).map { $0 - $1 }
        expectedDurations.append(expectedDurations.last ?? 0)
        #expect(try trunDurations(parts) == expectedDurations, sourceLocation: sourceLocation)
        #expect(try await probeEnd(url) == (dts.last ?? 0) + (expectedDurations.last ?? 0), sourceLocation: sourceLocation)
    }

    @Test(arguments: [0, 2])
    func videoReadsBackExactly(bframes: Int) async throws {
        let folder = try Self.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CMAF_KEEP"] == nil { try? FileManager.default.removeItem(at: folder) } }
        let stream = try await Self.makeStream(in: folder, bframes: bframes)
        let track = try #require(stream.videoTrack)
        #expect(stream.video.count == 180)
        let url = folder.appendingPathComponent("video.mp4")
        let (segmenter, run, initSegment) = try Self.package(track, stream.video, to: url)
        #expect(initSegment.width == 320 && initSegment.height == 240)
        try SegmenterHarness.checkInvariants(run, partTarget: 0.5, tolerance: 0.001 + 1e-9)
        #expect(run.segments.count == 3)
        #expect(run.segments.allSatisfy { abs($0.duration - 2) < 0.002 && $0.partCount == 4 })
        #expect(segmenter.droppedNonIncreasingDTS == 0 && segmenter.droppedBeforeKeyframe == 0)
        try await Self.expectPackets(in: url, stream.video, parts: run.parts, timescale: initSegment.timescale)
        try await Self.decodes(url)
        let info = try await Self.tool(
            "ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,profile,width,height", "-of", "csv=p=0", url.path])
        #expect(
            info.trimmingCharacters(in: .whitespacesAndNewlines)
                == (bframes == 0 ? "h264,Constrained Baseline,320,240" : "h264,High,320,240"))
        #expect(initSegment.codecString == (bframes == 0 ? "avc1.42C00D" : "avc1.64000D"))
    }

    @Test func audioReadsBackExactly() async throws {
        let folder = try Self.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CMAF_KEEP"] == nil { try? FileManager.default.removeItem(at: folder) } }
        let stream = try await Self.makeStream(in: folder, bframes: 0)
        let track = try #require(stream.audioTrack)
        let url = folder.appendingPathComponent("audio.mp4")
        let (_, run, initSegment) = try Self.package(track, stream.audio, to: url)
        #expect(initSegment.timescale == 44100)
        try SegmenterHarness.checkInvariants(run, partTarget: 0.5, tolerance: 0.001 + 1e-9)
        // 6 s and the encoder's priming frames: three 2 s segments and a short last one.
        #expect(run.segments.count >= 3)
        #expect(run.segments.dropLast().allSatisfy { abs($0.duration - 2) <= 0.5 * 1024 / 44100 + 0.001 })
        try await Self.expectPackets(in: url, stream.audio, parts: run.parts, timescale: 44100)
        try await Self.decodes(url)
        let info = try await Self.tool(
            "ffprobe", ["-v", "error", "-show_entries", "stream=codec_name,profile,sample_rate,channels", "-of", "csv=p=0", url.path])
        #expect(info.trimmingCharacters(in: .whitespacesAndNewlines) == "aac,LC,44100,1")
        #expect(initSegment.codecString == "mp4a.40.2")
    }

    /// A player joining live starts from a later segment: init + that segment alone must play.
    @Test func aLaterSegmentAloneDecodes() async throws {
        let folder = try Self.temporaryDirectory()
        defer { if ProcessInfo.processInfo.environment["CMAF_KEEP"] == nil { try? FileManager.default.removeItem(at: folder) } }
        let stream = try await Self.makeStream(in: folder, bframes: 2)
        for (track, packets) in [(stream.videoTrack, stream.video), (stream.audioTrack, stream.audio)] {
            let track = try #require(track)
            let (_, run, initSegment) = try Self.package(track, packets, to: folder.appendingPathComponent("all.mp4"))
            let segment = try #require(run.segments.dropFirst().first)
            let url = folder.appendingPathComponent("segment1.mp4")
            var file = initSegment.bytes
            for part in run.parts(of: 1) { file += part.bytes }
            try Data(file).write(to: url)
            let probed = try await Self.probe(url)
            #expect(probed.count == run.parts(of: 1).reduce(0) { $0 + $1.sampleCount })
            #expect(probed.first?.isKeyframe == true)
            #expect(abs((probed.first?.dts ?? -1) - segment.startTime) < 2e-6)
            try await Self.decodes(url)
        }
    }
}
