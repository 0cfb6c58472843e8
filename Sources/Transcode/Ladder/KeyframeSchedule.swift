import Media

/// Decides where every rendition puts its IDR frames, and whether the source can be passed through.
///
/// Sans-I/O: the pipeline feeds source packets in decode order (`observePacket`) and decoded frames in
/// presentation order (`isIDR`); the same answer goes to every rung, so IDR positions are identical
/// across renditions.
///
/// Passthrough decision, made once from the first GOP: the first keyframe opens it. If another
/// keyframe follows at most `maxPassthroughInterval` later, the source (H.264 only) is passed through
/// and every source keyframe is an IDR point. If that much presentation time passes without one, the
/// stream is transcoded and IDRs sit on a `keyframeInterval` grid anchored at the frame after the
/// decision (an IDR). Until the decision, only source keyframes are IDR points, so a transcoded
/// stream's first GOP may be up to `maxPassthroughInterval` long.
/// After passthrough was chosen, a later source gap longer than `maxPassthroughInterval` (an
/// encoder whose settings changed, say on a reconnect) would make segments longer than the
/// playlist's target duration, which never changes: the schedule then switches to the grid for
/// good and says `.transcode` again, and the pipeline retires its copy of the source. Alignment
/// holds either way.
public struct KeyframeSchedule: Sendable {
    public enum Mode: Sendable, Hashable {
        case undecided, passthrough, grid
    }

    public enum Decision: Sendable, Hashable {
        case passthrough, transcode
    }

    public private(set) var mode: Mode
    private let gridTicks: Int64
    private let maxSpacingTicks: Int64
    private var firstKeyframe: Int64?
    /// The latest source keyframe while passing through.
    private var lastKeyframe: Int64?
    private var anchor: Int64?
    private var lastGridIndex: Int64 = 0
    /// The last IDR placed on the grid, and how much closer than a grid step the next may come.
    private var lastGridIDR: Int64?
    private let gridSlackTicks: Int64
    /// Source keyframe timestamps whose frames have not been decoded yet.
    private var pendingKeyframes: [Int64] = []

    public init(timebase: Timebase, keyframeInterval: Int, maxPassthroughInterval: Int, canPassThrough: Bool) {
        gridTicks = max(Timebase(1, 1).convert(Int64(max(keyframeInterval, 1)), to: timebase), 1)
        gridSlackTicks = Timebase(1, 1000).convert(5, to: timebase)
        maxSpacingTicks = Timebase(1, 1).convert(Int64(max(maxPassthroughInterval, 0)), to: timebase)
        mode = canPassThrough ? .undecided : .grid
    }

    /// The decision, on the packet that settles it.
    public mutating func observePacket(pts: Int64, isKeyframe: Bool) -> Decision? {
        if isKeyframe, mode != .grid {
            if pendingKeyframes.count > 256 { pendingKeyframes.removeFirst(pendingKeyframes.count - 256) }
            pendingKeyframes.append(pts)
        }
        if mode == .passthrough { return watchPassthrough(pts: pts, isKeyframe: isKeyframe) }
        guard mode == .undecided else { return nil }
        guard let first = firstKeyframe else {
            if isKeyframe { firstKeyframe = pts }
            return nil
        }
        let (spacing, overflow) = pts.subtractingReportingOverflow(first)
        if overflow || spacing > maxSpacingTicks {
            switchToGrid()
            return .transcode
        }
        if isKeyframe, spacing > 0 {
            mode = .passthrough
            lastKeyframe = pts
            return .passthrough
        }
        return nil
    }

    private mutating func watchPassthrough(pts: Int64, isKeyframe: Bool) -> Decision? {
        if isKeyframe {
            lastKeyframe = max(lastKeyframe ?? pts, pts)
            return nil
        }
        guard let last = lastKeyframe else { return nil }
        let (gap, overflow) = pts.subtractingReportingOverflow(last)
        guard overflow || gap > maxSpacingTicks else { return nil }
        switchToGrid()
        return .transcode
    }

    /// The grid starts where the source's keyframes failed: the next frame is an IDR at once (the
    /// GOP in progress ends as close to the limit as it can), and the ones after it are whole grid
    /// intervals. On the first frame's grid, the first interval would be a fraction of one, too
    /// short for the segmenter to end a segment there, and the next segment would last nearly two.
    private mutating func switchToGrid() {
        mode = .grid
        anchor = nil
        pendingKeyframes.removeAll()
    }

    /// Whether the frame presented at `pts` is an IDR in every rendition. The first frame always is.
    public mutating func isIDR(framePTS pts: Int64) -> Bool {
        guard let anchor else {
            anchor = pts
            lastGridIndex = 0
            lastGridIDR = pts
            pendingKeyframes.removeAll { $0 <= pts }
            return true
        }
        switch mode {
        case .undecided, .passthrough:
            let hit = pendingKeyframes.contains(pts)
            pendingKeyframes.removeAll { $0 <= pts }
            return hit
        case .grid:
            let (offset, overflow) = pts.subtractingReportingOverflow(anchor)
            guard !overflow else { return false }
            var index = offset / gridTicks
            if offset < 0, offset % gridTicks != 0 { index -= 1 }
            guard index > lastGridIndex else { return false }
            // Frames whose phase on the grid moved (a switch to another encoder) would put an IDR a
            // frame early, making a segment shorter than the packager cuts (and the next twice as
            // long): such an IDR waits for the next frame.
            if let last = lastGridIDR, pts &- last < gridTicks &- gridSlackTicks { return false }
            lastGridIndex = index
            lastGridIDR = pts
            return true
        }
    }

    /// After a discontinuity: the next frame is an IDR and anchors the grid again.
    public mutating func restart() {
        anchor = nil
        lastGridIDR = nil
        lastKeyframe = nil
        pendingKeyframes.removeAll()
    }
}
