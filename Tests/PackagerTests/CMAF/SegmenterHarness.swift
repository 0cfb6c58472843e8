import Media
import Testing

@testable import Packager

/// Synthetic streams and the checks every segmenter output must pass.
enum SegmenterHarness {
    static let avcRecord = KnownParameterSets.record(sps: KnownParameterSets.baselineSPS, pps: KnownParameterSets.baselinePPS)

    static func videoTrack(fps: Double, timebase: Timebase) -> TrackInfo {
        TrackInfo(kind: .video, codec: .h264, configuration: .avc(avcRecord), timebase: timebase, width: 320, height: 240, frameRate: fps)
    }

    static let audioTrack = TrackInfo(
        kind: .audio, codec: .aac, configuration: .aac(AudioSpecificConfig(objectType: 2, sampleRate: 48000, channelConfiguration: 2)),
        timebase: Timebase(1, 48000), sampleRate: 48000, channels: 2
    )

    /// Frames `first..<first+count` at `fps`, timestamps rounded into `timebase` from exact frame times.
    static func video(
        fps: Int, gop: Int, count: Int, first: Int = 0, timebase: Timebase = .mpeg90kHz, offsetSeconds: Int64 = 0
    ) -> [MediaPacket] {
        (first..<first + count).map { frame in
            let exact = Timebase(1, Int64(fps)).convert(Int64(frame), to: timebase) + Timebase(1, 1).convert(offsetSeconds, to: timebase)
            let size = frame % gop == 0 ? 900 : 100 + frame % 7
            return MediaPacket(
                track: .video, pts: exact, dts: exact, timebase: timebase, isKeyframe: frame % gop == 0,
                data: [UInt8](repeating: UInt8(truncatingIfNeeded: frame), count: size))
        }
    }

    static func audio(count: Int, timebase: Timebase = Timebase(1, 48000)) -> [MediaPacket] {
        (0..<count).map { frame in
            let t = Timebase(1024, 48000).convert(Int64(frame), to: timebase)
            return MediaPacket(
                track: .audio, pts: t, dts: t, timebase: timebase, isKeyframe: true, data: [UInt8](repeating: 0x21, count: 200 + frame % 5))
        }
    }

    struct Run {
        var outputs: [SegmenterOutput] = []
        /// How many outputs each push returned.
        var perPush: [Int] = []
        var parts: [CMAFChunk] { outputs.compactMap { if case .part(let p) = $0 { p } else { nil } } }
        var segments: [CMAFSegmentSummary] { outputs.compactMap { if case .segmentEnd(let s) = $0 { s } else { nil } } }
        func parts(of segment: Int) -> [CMAFChunk] { parts.filter { $0.segmentSequence == segment } }
    }

    static func run(_ segmenter: inout CMAFSegmenter, _ packets: [MediaPacket], finish: Bool = true) -> Run {
        var run = Run()
        for packet in packets {
            let out = segmenter.push(packet)
            run.perPush.append(out.count)
            run.outputs += out
        }
        if finish { run.outputs += segmenter.finish() }
        return run
    }

    /// Structure every output must have: parts contiguous inside their segment, segments
    /// contiguous unless marked discontinuous, sizes adding up, and each part's bytes a valid
    /// `moof`+`mdat` whose `tfdt`, sample count and durations agree with what the chunk says.
    static func checkInvariants(
        _ run: Run, partTarget: Double, tolerance: Double = 1e-9, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        var expectedSegment = 0
        var partsInSegment: [CMAFChunk] = []
        var lastFragment: UInt32 = 0
        var lastEnd: Int64?
        for output in run.outputs {
            switch output {
            case .part(let part):
                #expect(part.segmentSequence == expectedSegment, sourceLocation: sourceLocation)
                #expect(part.partIndex == partsInSegment.count, sourceLocation: sourceLocation)
                #expect(part.fragmentSequence == lastFragment + 1, sourceLocation: sourceLocation)
                lastFragment = part.fragmentSequence
                if let previous = partsInSegment.last {
                    #expect(
                        part.startTicks == previous.startTicks + previous.durationTicks, "parts contiguous", sourceLocation: sourceLocation)
                }
                #expect(
                    part.duration <= partTarget + tolerance, "part \(part.segmentSequence).\(part.partIndex) lasts \(part.duration) s",
                    sourceLocation: sourceLocation)
                try checkBytes(part, sourceLocation: sourceLocation)
                partsInSegment.append(part)
            case .segmentEnd(let segment):
                #expect(segment.sequence == expectedSegment, sourceLocation: sourceLocation)
                #expect(segment.partCount == partsInSegment.count, sourceLocation: sourceLocation)
                #expect(segment.byteCount == partsInSegment.reduce(0) { $0 + $1.bytes.count }, sourceLocation: sourceLocation)
                #expect(segment.durationTicks == partsInSegment.reduce(0) { $0 + $1.durationTicks }, sourceLocation: sourceLocation)
                #expect(segment.startTicks == partsInSegment.first?.startTicks, sourceLocation: sourceLocation)
                #expect(partsInSegment.first?.independent == true, "a segment starts with a sync sample", sourceLocation: sourceLocation)
                #expect(segment.peakBitrate >= segment.averageBitrate, sourceLocation: sourceLocation)
                if let lastEnd {
                    if segment.discontinuity {
                        #expect(segment.startTicks >= lastEnd, sourceLocation: sourceLocation)
                    } else {
                        #expect(segment.startTicks == lastEnd, "segments contiguous", sourceLocation: sourceLocation)
                    }
                }
                lastEnd = segment.startTicks + segment.durationTicks
                expectedSegment += 1
                partsInSegment = []
            }
        }
        #expect(partsInSegment.isEmpty, "every part's segment ended", sourceLocation: sourceLocation)
    }

    static func checkBytes(_ part: CMAFChunk, sourceLocation: SourceLocation) throws {
        let boxes = try TestBoxParser.parse(part.bytes)
        #expect(boxes.map(\.type) == ["moof", "mdat"], sourceLocation: sourceLocation)
        let moof = try #require(boxes.first, sourceLocation: sourceLocation)
        let tfdt = try #require(moof.find("traf/tfdt"), sourceLocation: sourceLocation)
        #expect(tfdt.version == 1, sourceLocation: sourceLocation)
        #expect(Int64(TestBytes.u64(tfdt.fullBody, 0)) == part.startTicks, sourceLocation: sourceLocation)
        let mfhd = try #require(moof.child("mfhd"), sourceLocation: sourceLocation)
        #expect(TestBytes.u32(mfhd.fullBody, 0) == part.fragmentSequence, sourceLocation: sourceLocation)
        let trun = try #require(moof.find("traf/trun"), sourceLocation: sourceLocation)
        let samples = trun.fullBody
        let count = Int(TestBytes.u32(samples, 0))
        #expect(count == part.sampleCount, sourceLocation: sourceLocation)
        let stride = trun.flags & 0x800 != 0 ? 16 : 12
        var duration: Int64 = 0
        var size = 0
        for i in 0..<count {
            duration += Int64(TestBytes.u32(samples, 8 + i * stride))
            size += Int(TestBytes.u32(samples, 12 + i * stride))
            let flags = TestBytes.u32(samples, 16 + i * stride)
            if i == 0 { #expect((flags == CMAFSample.syncFlags) == part.independent, sourceLocation: sourceLocation) }
        }
        #expect(duration == part.durationTicks, sourceLocation: sourceLocation)
        #expect(boxes.last?.body.count == size, sourceLocation: sourceLocation)
        #expect(
            Int(TestBytes.u32(samples, 4)) == moof.bytes.count + 8, "data offset points past the mdat header",
            sourceLocation: sourceLocation)
    }
}
