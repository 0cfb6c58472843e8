import Media
import Testing

@testable import Packager

@Suite struct CMAFSegmenterTests {
    typealias H = SegmenterHarness

    struct VideoCase: CustomTestStringConvertible, Sendable {
        var fps: Int
        var gop: Int
        var partTarget: Double
        var framesPerPart: Int
        var partsPerSegment: Int
        var testDescription: String { "\(fps) fps, GOP \(gop), parts \(partTarget) s" }
    }

    static let videoCases = [
        VideoCase(fps: 30, gop: 60, partTarget: 0.5, framesPerPart: 15, partsPerSegment: 4),
        VideoCase(fps: 30, gop: 30, partTarget: 0.5, framesPerPart: 15, partsPerSegment: 4),
        VideoCase(fps: 24, gop: 48, partTarget: 0.5, framesPerPart: 12, partsPerSegment: 4),
        VideoCase(fps: 24, gop: 24, partTarget: 0.5, framesPerPart: 12, partsPerSegment: 4),
        VideoCase(fps: 30, gop: 60, partTarget: 0.2, framesPerPart: 6, partsPerSegment: 10),
        VideoCase(fps: 30, gop: 30, partTarget: 0.2, framesPerPart: 6, partsPerSegment: 10),
        VideoCase(fps: 24, gop: 48, partTarget: 0.2, framesPerPart: 4, partsPerSegment: 12),
        VideoCase(fps: 24, gop: 24, partTarget: 0.2, framesPerPart: 4, partsPerSegment: 12),
    ]

    @Test(arguments: videoCases)
    func videoSegmentsAndParts(_ c: VideoCase) throws {
        var segmenter = CMAFSegmenter(
            track: H.videoTrack(fps: Double(c.fps), timebase: .mpeg90kHz), options: try SegmenterOptions(partTarget: c.partTarget))
        let run = H.run(&segmenter, H.video(fps: c.fps, gop: c.gop, count: c.fps * 10))
        try H.checkInvariants(run, partTarget: c.partTarget)
        #expect(run.segments.count == 5)
        for segment in run.segments {
            #expect(segment.duration == 2.0)
            #expect(segment.partCount == c.partsPerSegment)
            #expect(!segment.discontinuity)
        }
        #expect(run.segments.map(\.startTime) == [0, 2, 4, 6, 8])
        for part in run.parts {
            #expect(part.sampleCount == c.framesPerPart)
            let firstFrame = part.partIndex * c.framesPerPart
            #expect(part.independent == (firstFrame % c.gop == 0), "part \(part.segmentSequence).\(part.partIndex)")
        }
        #expect(segmenter.droppedNonIncreasingDTS == 0)
    }

    @Test func aGOPLongerThanTheTargetMakesLongerSegments() throws {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz))
        let run = H.run(&segmenter, H.video(fps: 30, gop: 120, count: 300))
        try H.checkInvariants(run, partTarget: 0.5)
        #expect(run.segments.map(\.duration) == [4, 4, 2])
        #expect(run.segments.map(\.partCount) == [8, 8, 4])
    }

    @Test func aPartIsEmittedWhenTheFirstSampleOfTheNextArrives() throws {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz))
        let run = H.run(&segmenter, H.video(fps: 30, gop: 60, count: 61), finish: false)
        // Frames 0…14 make part 0; it comes out when frame 15 is pushed. Frame 60 (a keyframe
        // 2 s in) ends part 3 and segment 0.
        let emitting = run.perPush.enumerated().filter { $0.element > 0 }.map(\.offset)
        #expect(emitting == [15, 30, 45, 60])
        #expect(run.perPush[60] == 2)
        #expect(run.segments.first?.duration == 2.0)
    }

    @Test func millisecondTimestampsJitterButDoNotDrift() throws {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .milliseconds))
        let run = H.run(&segmenter, H.video(fps: 30, gop: 60, count: 30 * 20, timebase: .milliseconds))
        // Millisecond rounding makes 15 frames last 499…501 ms.
        try H.checkInvariants(run, partTarget: 0.5, tolerance: 0.001 + 1e-9)
        #expect(run.segments.count == 10)
        for (index, segment) in run.segments.enumerated() {
            #expect(segment.startTicks == Int64(index) * 180_000)
            #expect(abs(segment.duration - 2) <= 0.0011)
            #expect(segment.partCount == 4)
        }
        #expect(run.parts.allSatisfy { $0.sampleCount == 15 })
        #expect(segmenter.advertisedPartTarget == 0.501)
        #expect(run.parts.allSatisfy { $0.duration <= segmenter.advertisedPartTarget })
        #expect(CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz)).advertisedPartTarget == 0.5)
    }

    @Test(arguments: [0.5, 0.2])
    func audioOnTheGrid(partTarget: Double) throws {
        var segmenter = CMAFSegmenter(track: H.audioTrack, options: try SegmenterOptions(partTarget: partTarget))
        #expect(segmenter.timescale == 48000)
        let frames = 48000 * 20 / 1024  // 20 s
        let run = H.run(&segmenter, H.audio(count: frames))
        try H.checkInvariants(run, partTarget: partTarget)
        #expect(run.parts.allSatisfy { $0.independent })
        let full = run.segments.dropLast()
        #expect(full.count == 9)
        for segment in full {
            // 2 s = 93.75 frames: segments start at the frame nearest each 2 s mark, so they last
            // 94 or 93 frames and never drift.
            let ideal = Double(segment.sequence) * 2
            #expect(abs(segment.startTime - ideal) <= 512.0 / 48000 + 1e-9, "segment \(segment.sequence) starts at \(segment.startTime)")
            #expect([93 * 1024, 94 * 1024].contains(segment.durationTicks))
        }
        // Parts hold as many frames as fit, but a one-frame tail takes one from the part before
        // (93 frames at 0.5 s: 23, 23, 23, 22 and 2).
        let framesPerPart = Int(partTarget * 48000) / 1024
        for segment in full {
            let counts = run.parts(of: segment.sequence).map(\.sampleCount)
            #expect(counts.dropLast(2).allSatisfy { $0 == framesPerPart }, "\(counts)")
            #expect([framesPerPart, framesPerPart - 1].contains(counts[counts.count - 2]), "\(counts)")
            #expect(counts[counts.count - 1] >= 2, "\(counts)")
        }
        #expect(run.parts.reduce(0) { $0 + $1.sampleCount } == frames)
    }

    @Test func audioFromMillisecondTimestamps() throws {
        var segmenter = CMAFSegmenter(track: H.audioTrack)
        let run = H.run(&segmenter, H.audio(count: 48000 * 10 / 1024, timebase: .milliseconds))
        try H.checkInvariants(run, partTarget: 0.5, tolerance: 0.001 + 1e-9)
        for segment in run.segments.dropLast() {
            #expect(abs(segment.duration - 2) < 0.03)
        }
    }

    @Test func discontinuityContinuesTheTimeline() throws {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz))
        var run = H.run(&segmenter, H.video(fps: 30, gop: 60, count: 90, offsetSeconds: 1000), finish: false)
        run.outputs += segmenter.discontinuity()
        // The new encoder restarts at 0 and leads with two non-keyframes, which are dropped.
        var restarted = H.video(fps: 30, gop: 60, count: 62, first: 58)
        restarted = restarted.enumerated().map { index, packet in
            var packet = packet
            packet.dts -= 58 * 3000
            packet.pts -= 58 * 3000
            return packet
        }
        let more = H.run(&segmenter, restarted)
        run.outputs += more.outputs
        try H.checkInvariants(run, partTarget: 0.5)
        #expect(segmenter.droppedBeforeKeyframe == 2)
        let segments = run.segments
        let expectedStarts: [Int64] = [90_000_000, 90_180_000, 90_270_000]
        #expect(segments.map(\.startTicks) == expectedStarts)
        #expect(segments.map(\.duration) == [2, 1, 2])
        #expect(segments.map(\.discontinuity) == [false, false, true])
        #expect(segments[1].partCount == 2)
        let starts = run.parts.map(\.startTicks)
        #expect(starts == starts.sorted() && Set(starts).count == starts.count)
    }

    @Test func backwardsAndRepeatedDTSAreDroppedAndCounted() throws {
        var packets = H.video(fps: 30, gop: 60, count: 120)
        var stale = packets[40]
        stale.isKeyframe = true
        packets.insert(stale, at: 50)  // backwards
        packets.insert(packets[50], at: 51)  // the same DTS again
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz))
        let run = H.run(&segmenter, packets)
        try H.checkInvariants(run, partTarget: 0.5)
        #expect(segmenter.droppedNonIncreasingDTS == 2)
        #expect(run.parts.reduce(0) { $0 + $1.sampleCount } == 120)
        #expect(run.segments.map(\.duration) == [2, 2])
    }

    @Test func negativeFirstDTSIsShiftedToZero() throws {
        // B-frames: DTS starts two frames before PTS 0.
        let packets = (0..<70).map { frame in
            let dts = Int64(frame - 2) * 3000
            return MediaPacket(
                track: .video, pts: dts + 6000, dts: dts, timebase: .mpeg90kHz, isKeyframe: frame % 60 == 0, data: [1, 2, 3])
        }
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz))
        let run = H.run(&segmenter, packets)
        try H.checkInvariants(run, partTarget: 0.5)
        #expect(run.parts.first?.startTicks == 0)
        let trun = try #require(try TestBoxParser.parse(run.parts[0].bytes).first?.find("traf/trun"))
        #expect(trun.version == 1)
        #expect(trun.flags == 0xF01)
        #expect(Int32(bitPattern: TestBytes.u32(trun.fullBody, 20)) == 6000)
    }

    @Test func hostilePacketsNeverTrap() throws {
        var generator = SystemRandomNumberGenerator()
        for kind in [TrackKind.video, .audio] {
            let track = kind == .video ? H.videoTrack(fps: 30, timebase: .milliseconds) : H.audioTrack
            var segmenter = CMAFSegmenter(track: track, options: try SegmenterOptions(partTarget: 0.2))
            var run = SegmenterHarness.Run()
            let extremes: [Int64] = [.min, .max, 0, -1, 1, .max / 2, .min / 2]
            for step in 0..<3000 {
                let dts =
                    step % 10 == 0
                    ? extremes[Int.random(in: 0..<extremes.count, using: &generator)]
                    : Int64.random(in: -100_000...100_000_000, using: &generator)
                let pts = Bool.random(using: &generator) ? dts : Int64.random(in: .min ... .max, using: &generator)
                let timebase = [Timebase.milliseconds, .mpeg90kHz, Timebase(1, Int64.max), Timebase(Int64.max, 1)][step % 4]
                let packet = MediaPacket(
                    track: Bool.random(using: &generator) ? kind : .video, pts: pts, dts: dts, timebase: timebase,
                    isKeyframe: Bool.random(using: &generator), data: [UInt8](repeating: 0, count: step % 50))
                run.outputs += segmenter.push(packet)
                if step % 500 == 0 { run.outputs += segmenter.discontinuity() }
            }
            run.outputs += segmenter.finish()
            let starts = run.parts.map(\.startTicks)
            #expect(starts == starts.sorted(), "decode time never goes back")
            for part in run.parts { try SegmenterHarness.checkBytes(part, sourceLocation: #_sourceLocation) }
        }
    }

    @Test func optionsAreValidated() {
        #expect(throws: CMAFError.self) { try SegmenterOptions(partTarget: 0.1) }
        #expect(throws: CMAFError.self) { try SegmenterOptions(partTarget: 2.5) }
        #expect(throws: CMAFError.self) { try SegmenterOptions(partTarget: 1.5, segmentTarget: 1) }
        #expect(throws: CMAFError.self) { try SegmenterOptions(partTarget: .nan) }
        #expect(SegmenterOptions.default.partTarget == 0.5)
        #expect(SegmenterOptions.default.segmentTarget == 2)
    }

    @Test func bitratesOfASegment() throws {
        // 2 s of 30 fps frames of 1000 bytes each: 240 kbit/s of payload; every part the same.
        let packets = (0..<61).map { frame in
            MediaPacket(
                track: .video, pts: Int64(frame) * 3000, dts: Int64(frame) * 3000, timebase: .mpeg90kHz, isKeyframe: frame % 60 == 0,
                data: [UInt8](repeating: 0, count: 1000))
        }
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz))
        let run = H.run(&segmenter, packets, finish: false)
        let segment = try #require(run.segments.first)
        #expect(segment.averageBitrate == 240_000)
        #expect(segment.peakBitrate == 240_000)
        #expect(segment.bitrate == segment.byteCount * 8 / 2)
        #expect(segment.bitrate > segment.averageBitrate)
    }
}
