/// How long the segmenter's parts and segments aim to be.
public struct SegmenterOptions: Sendable, Hashable {
    public static let partTargetRange: ClosedRange<Double> = 0.2...2
    public static let segmentTargetRange: ClosedRange<Double> = 1...30

    /// Seconds; no part is longer unless one sample alone is (LL-HLS `PART-TARGET`).
    public var partTarget: Double
    /// Seconds; video segments end on the first keyframe at or after this (less half a frame).
    public var segmentTarget: Double

    public static let `default` = SegmenterOptions(uncheckedPartTarget: 0.5, segmentTarget: 2)

    public init(partTarget: Double = 0.5, segmentTarget: Double = 2) throws(CMAFError) {
        guard Self.partTargetRange.contains(partTarget) else {
            throw CMAFError("part target \(partTarget) s is outside 0.2…2 s: choose a value in that range (0.5 s is usual)")
        }
        guard Self.segmentTargetRange.contains(segmentTarget), segmentTarget >= partTarget else {
            throw CMAFError(
                "segment target \(segmentTarget) s must lie in 1…30 s and be at least the part target (\(partTarget) s): 2 s suits a 2 s keyframe interval"
            )
        }
        self.partTarget = partTarget
        self.segmentTarget = segmentTarget
    }

    private init(uncheckedPartTarget: Double, segmentTarget: Double) {
        self.partTarget = uncheckedPartTarget
        self.segmentTarget = segmentTarget
    }
}
