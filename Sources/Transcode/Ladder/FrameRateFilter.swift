import Media

/// Thins frames to at most `frameRate` per second on a fixed grid of presentation time.
///
/// The grid is anchored at timestamp zero, so the decision for a frame depends only on its own and the
/// previous kept frame's timestamps: restarts and rungs at the same rate drop the same frames. A frame
/// is kept when it is the first in its grid slot (`floor(pts × rate)`), or when it is forced (an IDR
/// point, never dropped). Kept frames keep their exact source timestamps.
public struct FrameRateFilter: Sendable {
    public let frameRate: Int
    public let timebase: Timebase
    private var lastSlot: Int128?

    public init(frameRate: Int, timebase: Timebase) {
        self.frameRate = frameRate
        self.timebase = timebase
    }

    public mutating func admit(pts: Int64, force: Bool = false) -> Bool {
        let (scaled, overflowA) = Int128(pts).multipliedReportingOverflow(by: Int128(timebase.numerator))
        let (ticks, overflowB) = scaled.multipliedReportingOverflow(by: Int128(frameRate))
        // Timestamps no real stream has: keep the frame rather than guess a slot.
        guard !overflowA, !overflowB else { return true }
        let divisor = Int128(timebase.denominator)
        var slot = ticks / divisor
        if ticks < 0, ticks % divisor != 0 { slot -= 1 }
        if force || lastSlot.map({ slot > $0 }) ?? true {
            lastSlot = slot
            return true
        }
        return false
    }

    /// Forgets the last kept frame (after a discontinuity timestamps may restart).
    public mutating func reset() { lastSlot = nil }
}
