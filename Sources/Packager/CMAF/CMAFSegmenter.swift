import Media

/// Cuts one rendition's packets into CMAF parts and segments for LL-HLS (sans I/O: packets in,
/// outputs out).
///
/// Rules:
/// - Video segments start on keyframes: a keyframe starts a new segment once the current one has
///   lasted at least `segmentTarget` less half a frame (2 s and 1 s GOPs both give 2 s segments).
///   Packets before the first keyframe (and before the first after a discontinuity) are dropped.
/// - Audio (every sample is sync) segments cut on the `segmentTarget` grid of decode time measured
///   from the first sample (nearest sample boundary, so durations alternate and never drift).
/// - A part ends when adding the next sample would pass `partTarget`; a segment's first sample
///   starts a part, and no part spans two segments. So every part but a segment's last holds as
///   many samples as fit (at least 85 % of the target wherever whole frames allow).
/// - Tail rule: a part also ends one sample early when the sample would otherwise be the only one
///   left for the segment's last part (a request for one frame), if the part keeps 85 % of the
///   target. Where the segment ends is expected from the audio grid, and for video from the length
///   the last two keyframe-ended segments agree on (else `segmentTarget`, which no such segment
///   undercuts). An unexpected keyframe (a passthrough source's irregular GOP) can still leave a
///   one-frame tail: the keyframe demands it.
/// - A sample's duration is the next sample's DTS − its own; the last sample before a
///   discontinuity or `finish()` takes the previous duration (or the frame/AAC-frame default).
///
/// **Latency:** a sample's duration, and so whether it still fits in the part, is known only when
/// the sample after it arrives. So the decision for a sample is taken when it arrives, with its
/// duration taken as the shortest and as the longest of the last 16 (the tail rule estimates the
/// frames left with the mean of the last four), and a part is emitted when the first sample of the
/// next part arrives (the moment its own last sample's duration becomes known). Only when the two
/// answers differ (an uneven cadence: a frame-rate-thinned rung's 33/67 ms frames, a dropped
/// frame) is the decision left until the sample after it arrives, one frame later; a mean there
/// cut 30 fps thinned to 24 fps into 0.467, 0.5, 0.5, 0.5 and 0.033 s parts.
/// A part can therefore pass `partTarget` by the source's timestamp precision (1 ms for RTMP's
/// millisecond timestamps, which jitter 33/34 ms at 30 fps; nothing for 90 kHz sources) or by a
/// sample longer than any of the last 16; declare `advertisedPartTarget`.
/// `CMAFChunk.duration` is always exact.
///
/// - A hole (the next DTS more than `max(partTarget, 4 × the recent sample duration)` after the
///   last: frames lost on the way, an encoder that stalled) ends the part and the segment at the
///   sample before it, which keeps the usual duration; the next segment starts after the hole
///   (video at its next keyframe), on the same timeline. So holes never make a part or segment
///   outgrow its target, and renditions stay aligned (no timeline shift, no discontinuity).
///
/// Timestamps are rescaled from each packet's timebase to the track timescale from their absolute
/// value (no accumulated rounding). The output timeline keeps the source's (so renditions of one
/// source stay aligned), shifted up only if the first DTS is negative; after a discontinuity the
/// new source timestamps are offset so that decode time continues where it stopped. Packets whose
/// DTS does not increase are dropped and counted; nothing from the packets can trap.
public struct CMAFSegmenter: Sendable {
    public let track: TrackInfo
    public let options: SegmenterOptions
    public let timescale: UInt32

    /// Packets dropped because their DTS did not increase.
    public private(set) var droppedNonIncreasingDTS = 0
    /// Video packets dropped while waiting for a keyframe to start from.
    public private(set) var droppedBeforeKeyframe = 0
    /// Holes in the source's timeline that ended a segment early.
    public private(set) var holes = 0
    /// Packets dropped for another reason: wrong track kind, a payload over 4 GiB, a timestamp
    /// beyond the 64-bit timeline.
    public private(set) var droppedInvalid = 0

    /// Far beyond any real timeline (2^61 ticks: 73 000 years at 1 MHz), and far enough from
    /// Int64.max that adding durations to it cannot overflow.
    static let latestDecodeTime: Int64 = 1 << 61

    private let outputTimebase: Timebase
    private let partTargetTicks: Int64
    private let segmentTargetTicks: Int64
    private let defaultDuration: Int64

    private struct Pending {
        var decodeTime: Int64
        var compositionOffset: Int32
        var isSync: Bool
        var timebase: Timebase
        var data: [UInt8]
    }

    /// Source → output timeline offset; nil until the first packet after start or a discontinuity.
    private var offset: Int64?
    private var lastDecodeTime: Int64?
    /// Where the last closed sample ended: the next epoch's first decode time.
    private var timelineEnd: Int64 = 0
    /// First decode time of the current epoch (since start or the last discontinuity): the audio grid origin.
    private var epochStart: Int64 = 0
    private var recentDurations: [Int64] = []
    private var cachedPrecision: (timebase: Timebase, ticks: Int64)?

    private var pending: Pending?
    /// Whether `pending` starts a new part is decided when its duration is known.
    private var pendingUndecided = false
    /// The lengths of the last two segments that a keyframe ended, for the next one's expected end.
    private var keyframeSegmentLengths: [Int64] = []
    private var partSamples: [CMAFSample] = []
    private var partStart: Int64 = 0
    private var partIndex = 0
    private var fragmentSequence: UInt32 = 1

    private var segmentOpen = false
    private var segmentSequence = 0
    private var segmentStart: Int64 = 0
    private var segmentEnd: Int64 = 0
    private var segmentParts = 0
    private var segmentBytes = 0
    private var segmentPayloadBytes = 0
    private var segmentPeakBitrate = 0.0
    private var segmentDiscontinuity = false
    private var nextSegmentIsDiscontinuity = false
    /// After a hole in video, frames up to the next keyframe are dropped (a segment starts with one).
    private var awaitingKeyframeAfterHole = false

    /// `firstSegmentSequence`: the media sequence number of the first segment.
    public init(track: TrackInfo, options: SegmenterOptions = .default, firstSegmentSequence: Int = 0) {
        self.track = track
        segmentSequence = max(firstSegmentSequence, 0)
        self.options = options
        let timescale = CMAFInitSegment.timescale(for: track)
        self.timescale = timescale
        outputTimebase = Timebase(1, Int64(timescale))
        let ticksPerSecond = Double(timescale)
        partTargetTicks = max(Int64((options.partTarget * ticksPerSecond).rounded()), 1)
        segmentTargetTicks = max(Int64((options.segmentTarget * ticksPerSecond).rounded()), 1)
        switch track.kind {
        case .video:
            let rate = track.frameRate.flatMap { (1...1000).contains($0) ? $0 : nil } ?? 30
            defaultDuration = max(Int64((ticksPerSecond / rate).rounded()), 1)
        case .audio:
            // An AAC frame is 1024 samples at the core rate (HE-AAC's 2048 at the output rate).
            var coreRate = Int64(track.sampleRate ?? Int(timescale))
            if case .aac(let config) = track.configuration { coreRate = Int64(config.sampleRate) }
            defaultDuration = max(Timebase(1024, max(coreRate, 1)).convert(1, to: outputTimebase), 1)
        }
        partSamples.reserveCapacity(64)
    }

    // MARK: Inputs

    /// Adds the next packet in decode order; returns the parts (and segment ends) it completed.
    public mutating func push(_ packet: MediaPacket) -> [SegmenterOutput] {
        guard packet.track == track.kind, packet.data.count <= Int(UInt32.max) - 16 else {
            droppedInvalid += 1
            return []
        }
        let sourceDTS = packet.timebase.convert(packet.dts, to: outputTimebase)
        let sourcePTS = packet.timebase.convert(packet.pts, to: outputTimebase)
        let isSync = track.kind == .audio || packet.isKeyframe
        var rebase = offset
        if rebase == nil {
            guard isSync else {
                droppedBeforeKeyframe += 1
                return []
            }
            if lastDecodeTime == nil {
                guard sourceDTS != .min else {
                    droppedInvalid += 1
                    return []
                }
                rebase = max(-sourceDTS, 0)
            } else {
                let (shift, overflow) = timelineEnd.subtractingReportingOverflow(sourceDTS)
                guard !overflow else {
                    droppedInvalid += 1
                    return []
                }
                rebase = shift
            }
        }
        let (decodeTime, overflow) = sourceDTS.addingReportingOverflow(rebase ?? 0)
        let (offsetTicks, offsetOverflow) = sourcePTS.subtractingReportingOverflow(sourceDTS)
        guard !overflow, !offsetOverflow, (0...Self.latestDecodeTime).contains(decodeTime) else {
            droppedInvalid += 1
            return []
        }
        if let last = lastDecodeTime, decodeTime <= last {
            droppedNonIncreasingDTS += 1
            return []
        }
        if offset == nil {
            offset = rebase
            epochStart = decodeTime
        }

        if awaitingKeyframeAfterHole {
            guard isSync else {
                droppedBeforeKeyframe += 1
                return []
            }
            awaitingKeyframeAfterHole = false
        }

        var outputs: [SegmenterOutput] = []
        if let previous = pending, decodeTime - previous.decodeTime > max(partTargetTicks, 4 * estimatedDuration) {
            let duration = estimatedDuration
            closePending(previous, duration: duration)
            outputs += settleUndecided(previous, duration: duration)
            timelineEnd = previous.decodeTime + duration
            outputs.append(.part(finishPart()))
            outputs.append(.segmentEnd(finishSegment()))
            holes += 1
            if !isSync {
                awaitingKeyframeAfterHole = true
                droppedBeforeKeyframe += 1
                return outputs
            }
        } else if let previous = pending {
            let duration = decodeTime - previous.decodeTime  // > 0: decode times strictly increase
            closePending(previous, duration: duration)
            outputs += settleUndecided(previous, duration: duration)
            let estimate = estimatedDuration
            let startsSegment: Bool
            switch track.kind {
            case .video:
                startsSegment = isSync && decodeTime - segmentStart >= segmentTargetTicks - estimate / 2
                if startsSegment { rememberSegmentLength(decodeTime - segmentStart) }
            case .audio:
                startsSegment = gridIndex(decodeTime, half: estimate / 2) > gridIndex(segmentStart, half: estimate / 2)
            }
            if startsSegment {
                outputs.append(.part(finishPart()))
                outputs.append(.segmentEnd(finishSegment()))
            } else {
                // The sample's duration is unknown: decide with the shortest and longest of the recent
                // ones; if they disagree, decide when the next sample gives the real one.
                let tolerance = min(precision(of: packet.timebase), estimate / 4)
                let shortest = recentDurations.min() ?? estimate
                let longest = recentDurations.max() ?? estimate
                let ifShort = endsPart(before: decodeTime, duration: shortest, estimate: estimate, tolerance: tolerance)
                let ifLong = endsPart(before: decodeTime, duration: longest, estimate: estimate, tolerance: tolerance)
                if ifShort != ifLong {
                    pendingUndecided = true
                } else if ifShort {
                    outputs.append(.part(finishPart()))
                }
            }
        }
        if !segmentOpen { openSegment(at: decodeTime) }
        if partSamples.isEmpty { partStart = decodeTime }
        pending = Pending(
            decodeTime: decodeTime, compositionOffset: Int32(clamping: offsetTicks), isSync: isSync, timebase: packet.timebase,
            data: packet.data
        )
        lastDecodeTime = decodeTime
        return outputs
    }

    /// The source broke continuity: finishes the open part and segment (the last sample takes the
    /// previous duration); the next packet (a keyframe, for video) starts a segment marked
    /// `discontinuity`, its decode time continuing where this one stopped.
    public mutating func discontinuity() -> [SegmenterOutput] {
        if awaitingKeyframeAfterHole {
            // The hole already closed the segment; the next packet starts a new epoch.
            awaitingKeyframeAfterHole = false
            offset = nil
        }
        let outputs = closeEpoch()
        if lastDecodeTime != nil { nextSegmentIsDiscontinuity = true }
        return outputs
    }

    /// The stream ended: finishes the open part and segment. Packets pushed afterwards start a
    /// new segment as after a discontinuity.
    public mutating func finish() -> [SegmenterOutput] {
        discontinuity()
    }

    // MARK: Cutting

    /// The next sample's duration, before it is known: the mean of the last four (the frame or
    /// AAC-frame duration, with millisecond rounding averaged out).
    private var estimatedDuration: Int64 {
        let recent = recentDurations.suffix(4)
        guard !recent.isEmpty else { return defaultDuration }
        let sum = recent.reduce(0, +)
        let count = Int64(recent.count)
        return max((sum + count / 2) / count, 1)
    }

    /// Whether a sample starting at `start` and lasting `duration` starts a new part: it would pass
    /// the target, or it would leave one sample alone for the segment's last part.
    private func endsPart(before start: Int64, duration: Int64, estimate: Int64, tolerance: Int64) -> Bool {
        let limit = partStart + partTargetTicks + tolerance
        let end = start + duration
        if end > limit { return true }
        // A part shortened for the tail stays at least 85 % of the target.
        guard start - partStart >= partTargetTicks * 17 / 20 else { return false }
        switch track.kind {
        case .audio:
            // The first sample starting at or after `boundary` starts the next segment.
            let half = estimate / 2
            let boundary = epochStart + (gridIndex(segmentStart, half: half) + 1) * segmentTargetTicks - half
            let left = boundary - end
            return left > 0 && left <= estimate && end + estimate > limit
        case .video:
            // A quarter sample of slack: jittered timestamps, and the short frame a forced keyframe
            // can leave in a frame-rate-thinned rung; one sample there may be the longest recent one.
            let keyframe = segmentStart + expectedSegmentLength(estimate: estimate)
            let left = keyframe - estimate / 4 - end
            return left > 0 && left <= max(recentDurations.max() ?? estimate, estimate) && keyframe > limit
        }
    }

    /// The length the last two keyframe-ended segments agree on, else `segmentTarget`: no segment
    /// a keyframe ends is shorter than that (less half a frame), so that guess never makes the
    /// tail rule cut before a segment's last sample.
    private func expectedSegmentLength(estimate: Int64) -> Int64 {
        guard keyframeSegmentLengths.count == 2, let last = keyframeSegmentLengths.last, let first = keyframeSegmentLengths.first,
            abs(last - first) <= estimate / 2
        else { return segmentTargetTicks }
        return last
    }

    private mutating func rememberSegmentLength(_ length: Int64) {
        if keyframeSegmentLengths.count == 2 { keyframeSegmentLengths.removeFirst() }
        keyframeSegmentLengths.append(length)
    }

    /// Decides an undecided `sample` (just closed, the part's last) now that its `duration` is
    /// known; if it starts a new part, the part before it is emitted.
    private mutating func settleUndecided(_ sample: Pending, duration: Int64) -> [SegmenterOutput] {
        guard pendingUndecided else { return [] }
        pendingUndecided = false
        let estimate = estimatedDuration
        let tolerance = min(precision(of: sample.timebase), estimate / 4)
        guard partSamples.count > 1, endsPart(before: sample.decodeTime, duration: duration, estimate: estimate, tolerance: tolerance)
        else { return [] }
        let carried = partSamples.removeLast()
        let part = finishPart()
        partSamples.append(carried)
        partStart = sample.decodeTime
        return [.part(part)]
    }

    /// How far rounding in the source's timestamps can move a sample, in output ticks: one source
    /// tick when it is coarser than the timescale (1 ms = 90 ticks for RTMP), else nothing.
    private mutating func precision(of timebase: Timebase) -> Int64 {
        if let cached = cachedPrecision, cached.timebase == timebase { return cached.ticks }
        let ticks = Self.jitter(of: timebase, in: outputTimebase)
        cachedPrecision = (timebase, ticks)
        return ticks
    }

    private static func jitter(of timebase: Timebase, in output: Timebase) -> Int64 {
        let ticks = timebase.convert(1, to: output)
        return ticks > 1 ? ticks : 0
    }

    /// The `PART-TARGET` to declare for this track: `partTarget`, plus the source's timestamp
    /// precision when it is coarser than the timescale (0.501 s for 0.5 s parts from millisecond
    /// timestamps), since parts of whole frames can pass the target by that much.
    public var advertisedPartTarget: Double {
        let jitter = min(Self.jitter(of: track.timebase, in: outputTimebase), defaultDuration / 4)
        return Double(partTargetTicks + jitter) / Double(timescale)
    }

    private func gridIndex(_ decodeTime: Int64, half: Int64) -> Int64 {
        (decodeTime - epochStart + half) / segmentTargetTicks
    }

    private mutating func closePending(_ sample: Pending, duration: Int64) {
        partSamples.append(
            CMAFSample(
                duration: UInt32(clamping: duration), compositionOffset: sample.compositionOffset,
                isSync: sample.isSync, data: sample.data
            ))
        if recentDurations.count == 16 { recentDurations.removeFirst() }
        recentDurations.append(min(duration, Int64(UInt32.max)))
        pending = nil
    }

    private mutating func closeEpoch() -> [SegmenterOutput] {
        guard let last = pending else { return [] }
        let duration = recentDurations.last ?? defaultDuration
        closePending(last, duration: duration)
        let settled = settleUndecided(last, duration: duration)
        timelineEnd = last.decodeTime + duration
        offset = nil
        return settled + [.part(finishPart()), .segmentEnd(finishSegment())]
    }

    private mutating func openSegment(at decodeTime: Int64) {
        segmentOpen = true
        segmentStart = decodeTime
        segmentParts = 0
        segmentBytes = 0
        segmentPayloadBytes = 0
        segmentPeakBitrate = 0
        segmentDiscontinuity = nextSegmentIsDiscontinuity
        nextSegmentIsDiscontinuity = false
        partIndex = 0
    }

    private mutating func finishPart() -> CMAFChunk {
        var duration: Int64 = 0
        var payload = 0
        for sample in partSamples {
            duration += Int64(sample.duration)
            payload += sample.data.count
        }
        let bytes = CMAFFragmentWriter.fragment(
            sequenceNumber: fragmentSequence, baseMediaDecodeTime: UInt64(clamping: partStart), samples: partSamples
        )
        let seconds = Double(duration) / Double(timescale)
        let chunk = CMAFChunk(
            bytes: bytes, segmentSequence: segmentSequence, partIndex: partIndex, fragmentSequence: fragmentSequence,
            timescale: timescale, startTicks: partStart, startTime: Double(partStart) / Double(timescale),
            durationTicks: duration, duration: seconds, independent: partSamples.first?.isSync ?? false,
            sampleCount: partSamples.count
        )
        fragmentSequence &+= 1
        segmentEnd = partStart + duration
        partIndex += 1
        segmentParts += 1
        segmentBytes += bytes.count
        segmentPayloadBytes += payload
        if seconds > 0 { segmentPeakBitrate = max(segmentPeakBitrate, Double(payload * 8) / seconds) }
        partSamples.removeAll(keepingCapacity: true)
        return chunk
    }

    private mutating func finishSegment() -> CMAFSegmentSummary {
        let durationTicks = segmentEnd - segmentStart
        let seconds = Double(durationTicks) / Double(timescale)
        let summary = CMAFSegmentSummary(
            sequence: segmentSequence, timescale: timescale, startTicks: segmentStart,
            startTime: Double(segmentStart) / Double(timescale), durationTicks: durationTicks, duration: seconds,
            partCount: segmentParts, byteCount: segmentBytes, discontinuity: segmentDiscontinuity,
            averageBitrate: seconds > 0 ? Int((Double(segmentPayloadBytes * 8) / seconds).rounded()) : 0,
            peakBitrate: Int(segmentPeakBitrate.rounded())
        )
        segmentSequence += 1
        segmentOpen = false
        return summary
    }
}
