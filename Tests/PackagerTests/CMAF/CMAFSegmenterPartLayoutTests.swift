import Foundation
import Media
import Testing

@testable import Packager

/// Part layout (issue 23): no part but a segment's last below 85 % of the part target (where whole
/// frames allow), no segment ending on a one-frame part unless its keyframe demands it, and no part
/// above the advertised `PART-TARGET`.
@Suite struct CMAFSegmenterPartLayoutTests {
    typealias H = SegmenterHarness

    struct Rate: Sendable, CustomStringConvertible {
        var frames: Int64
        var per: Int64
        var seconds: Double { Double(per) / Double(frames) }
        var description: String { per == 1 ? "\(frames) fps" : "\(frames)/\(per) fps" }
    }

    static let rates = [
        Rate(frames: 25, per: 1), Rate(frames: 30000, per: 1001), Rate(frames: 30, per: 1), Rate(frames: 50, per: 1),
        Rate(frames: 60, per: 1),
    ]

    /// `seconds` of frames at `rate`, timestamps rounded into `timebase` from exact frame times
    /// plus `offsetMilliseconds`; a keyframe on the first frame at or after each multiple of
    /// `keyframeInterval` (the ladder's IDR grid). With `thinnedTo`, only the first frame in each
    /// slot of that rate is kept, keyframes always (the transcoder's `FrameRateFilter`).
    static func stream(
        _ rate: Rate, seconds: Int, timebase: Timebase, keyframeInterval: Double, thinnedTo: Int64? = nil,
        offsetMilliseconds: Int64 = 0
    ) -> [MediaPacket] {
        var packets: [MediaPacket] = []
        var nextKeyframe = 0.0
        var lastSlot: Int64?
        for frame in 0..<Int64(seconds) * rate.frames / rate.per {
            let time =
                Timebase(rate.per, rate.frames).convert(frame, to: timebase)
                + Timebase.milliseconds.convert(offsetMilliseconds, to: timebase)
            let isKeyframe = Double(frame) * rate.seconds >= nextKeyframe - 1e-9
            if isKeyframe { nextKeyframe += keyframeInterval }
            if let thinnedTo {
                let slot = Int64(
                    (Double(time) * Double(timebase.numerator) * Double(thinnedTo) / Double(timebase.denominator)).rounded(.down))
                if !isKeyframe, let lastSlot, slot <= lastSlot { continue }
                lastSlot = slot
            }
            packets.append(
                MediaPacket(
                    track: .video, pts: time, dts: time, timebase: timebase, isKeyframe: isKeyframe,
                    data: [UInt8](repeating: UInt8(truncatingIfNeeded: frame), count: isKeyframe ? 900 : 100)))
        }
        return packets
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var rate: Rate
        var timebase: Timebase
        var partTarget: Double
        var keyframeInterval: Double
        var testDescription: String {
            "\(rate), \(timebase == .milliseconds ? "1 ms" : "90 kHz"), parts \(partTarget) s, keyframes every \(keyframeInterval) s"
        }
    }

    static let matrix: [Case] = rates.flatMap { rate in
        [Timebase.milliseconds, .mpeg90kHz].flatMap { timebase in
            [0.5, 0.333, 0.2].flatMap { partTarget in
                [1, 2, 2.5].map { Case(rate: rate, timebase: timebase, partTarget: partTarget, keyframeInterval: $0) }
            }
        }
    }

    /// The segments a keyframe ended (not the last, which `finish()` ends), with their parts.
    static func fullSegments(_ run: H.Run) -> [(segment: CMAFSegmentSummary, parts: [CMAFChunk])] {
        run.segments.dropLast().map { ($0, run.parts(of: $0.sequence)) }
    }

    @Test(arguments: matrix)
    func partsFillTheTargetAndNoTailIsOneFrame(_ c: Case) throws {
        let track = H.videoTrack(fps: Double(c.rate.frames) / Double(c.rate.per), timebase: c.timebase)
        var segmenter = CMAFSegmenter(track: track, options: try SegmenterOptions(partTarget: c.partTarget))
        let run = H.run(&segmenter, Self.stream(c.rate, seconds: 24, timebase: c.timebase, keyframeInterval: c.keyframeInterval))
        let advertised = segmenter.advertisedPartTarget
        try H.checkInvariants(run, partTarget: advertised)
        #expect(abs(advertised - c.partTarget - (c.timebase == .milliseconds ? 0.001 : 0)) < 1e-9)
        // Whole frames: the most that fit in the advertised target, or 85 % of the target.
        let frame = c.rate.seconds
        let fitting = (advertised / frame + 1e-9).rounded(.down) * frame
        let shortest = min(0.85 * c.partTarget, fitting) - 0.0011
        let segments = Self.fullSegments(run)
        #expect(segments.count >= 8)
        for (segment, parts) in segments {
            for part in parts.dropLast() {
                #expect(part.duration >= shortest, "part \(segment.sequence).\(part.partIndex): \(part.duration) s")
            }
            let tail = try #require(parts.last)
            #expect(parts.count == 1 || tail.sampleCount >= 2, "segment \(segment.sequence) ends on \(parts.map(\.duration))")
        }
    }

    struct TailCase: Sendable, CustomTestStringConvertible {
        var fps: Int
        var gop: Int
        var partTarget: Double
        /// The frames of each part of a full segment once its length is expected.
        var layout: [Int]
        var testDescription: String { "\(fps) fps, GOP \(gop), parts \(partTarget) s" }
    }

    static let tailCases = [
        // 61 = 4 × 15 + 1: the fourth part gives a frame to the tail.
        TailCase(fps: 30, gop: 61, partTarget: 0.5, layout: [15, 15, 15, 14, 2]),
        TailCase(fps: 60, gop: 121, partTarget: 0.5, layout: [30, 30, 30, 29, 2]),
        TailCase(fps: 50, gop: 101, partTarget: 0.2, layout: [10, 10, 10, 10, 10, 10, 10, 10, 10, 9, 2]),
        // 61 = 10 × 6 + 1, but 5 frames are 83 % of 0.2 s: the keyframe demands the one-frame tail.
        TailCase(fps: 30, gop: 61, partTarget: 0.2, layout: [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 1]),
    ]

    @Test(arguments: tailCases)
    func aPartGivesAFrameToAOneFrameTail(_ c: TailCase) throws {
        var segmenter = CMAFSegmenter(
            track: H.videoTrack(fps: Double(c.fps), timebase: .mpeg90kHz), options: try SegmenterOptions(partTarget: c.partTarget))
        let run = H.run(&segmenter, H.video(fps: c.fps, gop: c.gop, count: c.gop * 6))
        try H.checkInvariants(run, partTarget: c.partTarget)
        // The first two segments set the expected length (before that: the 2 s segment target).
        for (segment, parts) in Self.fullSegments(run).dropFirst(2) {
            #expect(parts.map(\.sampleCount) == c.layout, "segment \(segment.sequence)")
        }
    }

    /// The measured case: a 30 fps source with millisecond timestamps, thinned to 24 fps for the
    /// 360p rung (33 and 67 ms frames), cut at 0.5 s. The mean duration (42 ms) used to cut the
    /// first part a frame early: 0.467, 0.5, 0.5, 0.5 and 0.033 s.
    @Test(arguments: [0, 8, 17, 21, 25])
    func aThinnedRungIsCutIntoEvenParts(offsetMilliseconds: Int64) throws {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 24, timebase: .milliseconds))
        let packets = Self.stream(
            Rate(frames: 30, per: 1), seconds: 20, timebase: .milliseconds, keyframeInterval: 2, thinnedTo: 24,
            offsetMilliseconds: offsetMilliseconds)
        let run = H.run(&segmenter, packets)
        try H.checkInvariants(run, partTarget: segmenter.advertisedPartTarget)
        let segments = Self.fullSegments(run)
        #expect(segments.count == 9)
        for (segment, parts) in segments {
            #expect(parts.allSatisfy { abs($0.duration - 0.5) <= 0.0011 }, "segment \(segment.sequence): \(parts.map(\.duration))")
        }
    }

    @Test(arguments: [(30, 24, 0.5), (30, 24, 1.0 / 3), (60, 30, 0.5), (60, 30, 1.0 / 3)])
    func thinnedRungsStayWithinTheTargetWithoutOneFrameTails(source: Int64, rung: Int64, partTarget: Double) throws {
        for offset: Int64 in [0, 7, 17, 24, 33] {
            var segmenter = CMAFSegmenter(
                track: H.videoTrack(fps: Double(rung), timebase: .milliseconds), options: try SegmenterOptions(partTarget: partTarget))
            let packets = Self.stream(
                Rate(frames: source, per: 1), seconds: 20, timebase: .milliseconds, keyframeInterval: 2, thinnedTo: rung,
                offsetMilliseconds: offset)
            let run = H.run(&segmenter, packets)
            try H.checkInvariants(run, partTarget: segmenter.advertisedPartTarget)
            for (segment, parts) in Self.fullSegments(run) {
                #expect(
                    parts.dropLast().allSatisfy { $0.duration >= 0.85 * partTarget },
                    "segment \(segment.sequence): \(parts.map(\.duration))")
                #expect((parts.last?.sampleCount ?? 0) >= 2, "segment \(segment.sequence): \(parts.map(\.duration))")
            }
        }
    }

    @Test func anUnevenCadenceDelaysAPartByOneFrameAtMost() throws {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 24, timebase: .milliseconds))
        let packets = Self.stream(Rate(frames: 30, per: 1), seconds: 10, timebase: .milliseconds, keyframeInterval: 2, thinnedTo: 24)
        var emittedAt: [Int64: Int64] = [:]
        var arrivals: [Int64] = []
        for packet in packets {
            arrivals.append(packet.dts)
            for case .part(let part) in segmenter.push(packet) {
                emittedAt[part.startTicks + part.durationTicks] = packet.dts * 90
            }
        }
        // Each part comes out when the first or the second sample after it arrives.
        for (end, at) in emittedAt {
            let next = arrivals.map { $0 * 90 }.filter { $0 >= end }.prefix(2)
            #expect(next.contains(at), "part ending at \(end) emitted at \(at)")
        }
    }
}
