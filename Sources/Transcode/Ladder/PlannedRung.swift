/// A rung fitted to one source: its output size and frame rate.
public struct PlannedRung: Sendable, Hashable {
    public var rung: Rung
    public var width: Int
    public var height: Int
    /// Frames per second the encoder is told: the rung's rate, or the source's when that is lower.
    public var frameRate: Double
    /// Whether frames are dropped on the rung's timestamp grid (the source is faster than the rung).
    public var dropsFrames: Bool

    public var name: String { rung.name }

    /// The rungs of `ladder` for a `width`×`height` source at `sourceFrameRate`, highest first.
    /// Rungs taller than the source are skipped (never upscale); widths keep the source's aspect ratio,
    /// rounded to even.
    public static func plan(_ ladder: Ladder, sourceWidth width: Int, sourceHeight height: Int, sourceFrameRate: Double) -> [PlannedRung] {
        guard width > 0, height > 0 else { return [] }
        var seen = Set<String>()
        return ladder.rungs
            .filter { $0.height > 0 && $0.height <= height && $0.frameRate > 0 }
            .sorted { $0.height > $1.height }
            .compactMap { rung in
                guard seen.insert(rung.name).inserted else { return nil }
                let evenHeight = rung.height - rung.height % 2
                let halfWidth = (Double(width) * Double(evenHeight) / Double(height) / 2).rounded()
                let outWidth = Int(halfWidth) * 2
                let faster = sourceFrameRate > Double(rung.frameRate) * 1.01
                return PlannedRung(
                    rung: rung, width: max(outWidth, 2), height: max(evenHeight, 2),
                    frameRate: faster ? Double(rung.frameRate) : sourceFrameRate,
                    dropsFrames: faster
                )
            }
    }
}
