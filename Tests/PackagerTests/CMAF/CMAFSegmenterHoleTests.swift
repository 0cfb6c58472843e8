import Media
import Testing

@testable import Packager

/// Holes in a source's timeline (frames lost on a lossy SRT link, an encoder that stalled): no
/// part or segment may outgrow its target, or the playlist refuses it and the rendition stalls.
@Suite struct CMAFSegmenterHoleTests {
    typealias H = SegmenterHarness

    /// Every part within the part target, every segment within `maximumSegment` s (rounded), starting on a
    /// sync sample; parts contiguous inside a segment; segments in order, never overlapping.
    static func check(_ run: H.Run, partTarget: Double = 0.5, maximumSegment: Double = 2.0, discontinuities: Bool = false) {
        var lastEnd: Int64 = -1
        for segment in run.segments {
            let parts = run.parts(of: segment.sequence)
            #expect(!parts.isEmpty && parts.first?.independent == true, "segment \(segment.sequence) starts with a sync sample")
            // As the playlist checks it (AAC segments alternate around the target on the sample grid).
            #expect(segment.duration.rounded() <= maximumSegment, "segment \(segment.sequence) lasts \(segment.duration) s")
            #expect(segment.startTicks >= lastEnd, "segment \(segment.sequence) overlaps the one before")
            #expect(discontinuities || !segment.discontinuity, "a hole keeps the timeline: renditions stay aligned")
            for (previous, part) in zip(parts, parts.dropFirst()) {
                #expect(part.startTicks == previous.startTicks + previous.durationTicks, "parts contiguous")
            }
            lastEnd = segment.startTicks + segment.durationTicks
        }
        for part in run.parts {
            #expect(part.duration <= partTarget + 1e-9, "part \(part.segmentSequence).\(part.partIndex) lasts \(part.duration) s")
        }
    }

    @Test func aVideoHoleEndsTheSegmentAndTheNextStartsAtTheNextKeyframe() {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 25, timebase: .mpeg90kHz))
        // 25 fps, keyframes every 2 s; frames 60…155 lost (3.84 s): frame 156 is not a keyframe,
        // so the next segment starts at frame 200 (8 s).
        let frames = H.video(fps: 25, gop: 50, count: 300).enumerated().filter { !(60..<156).contains($0.offset) }.map(\.element)
        let run = H.run(&segmenter, frames)
        Self.check(run)
        #expect(segmenter.holes == 1)
        #expect(segmenter.droppedBeforeKeyframe == 44, "frames 156…199 wait for the keyframe")
        let starts = run.segments.map(\.startTime)
        #expect(starts == [0, 2, 8, 10], "\(starts)")
        // The sample before the hole keeps a frame's duration: segment 1 is frames 50…59.
        #expect(run.segments[1].duration == 0.4)
    }

    @Test func aHoleRightBeforeAKeyframeLosesNothingElse() {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 25, timebase: .mpeg90kHz))
        let frames = H.video(fps: 25, gop: 50, count: 200).enumerated().filter { !(70..<100).contains($0.offset) }.map(\.element)
        let run = H.run(&segmenter, frames)
        Self.check(run)
        #expect(segmenter.holes == 1 && segmenter.droppedBeforeKeyframe == 0)
        #expect(run.segments.map(\.startTime) == [0, 2, 4, 6])
    }

    @Test func anAudioHoleEndsTheSegmentAndAudioGoesOnAfterIt() {
        var segmenter = CMAFSegmenter(track: H.audioTrack)
        // 48 kHz AAC (21.3 ms frames); 40 frames (0.85 s) lost in the second segment.
        let frames = H.audio(count: 470).enumerated().filter { !(120..<160).contains($0.offset) }.map(\.element)
        let run = H.run(&segmenter, frames)
        Self.check(run)
        #expect(segmenter.holes == 1)
        let total = run.segments.reduce(0) { $0 + $1.durationTicks }
        #expect(total == Int64(430 * 1024), "every frame that arrived is in a segment, each with its own duration")
    }

    @Test func ordinaryJitterAndADroppedFrameAreNoHole() {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 30, timebase: .mpeg90kHz))
        let frames = H.video(fps: 30, gop: 60, count: 300).enumerated().filter { $0.offset != 45 && $0.offset != 46 }.map(\.element)
        let run = H.run(&segmenter, frames)
        #expect(segmenter.holes == 0)
        #expect(run.segments.map(\.startTime) == [0, 2, 4, 6, 8])
    }

    @Test func aDiscontinuityWhileWaitingForAKeyframeStartsANewEpoch() {
        var segmenter = CMAFSegmenter(track: H.videoTrack(fps: 25, timebase: .mpeg90kHz))
        let before = H.video(fps: 25, gop: 50, count: 200).enumerated().filter { !(60..<120).contains($0.offset) }.map(\.element)
        var run = H.run(&segmenter, Array(before.prefix(61)), finish: false)
        run.outputs += segmenter.discontinuity()
        // A new encoder restarting at 0: its keyframe continues the timeline after the last sample.
        let restarted = H.video(fps: 25, gop: 50, count: 100)
        run.outputs += H.run(&segmenter, restarted).outputs
        Self.check(run, discontinuities: true)
        #expect(segmenter.droppedNonIncreasingDTS == 0)
        #expect(run.segments.filter(\.discontinuity).count == 1)
        #expect(run.segments.count >= 4, "\(run.segments.map(\.startTime))")
    }
}
