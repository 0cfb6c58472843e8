/// The states of the quality machine (DESIGN.md §5). Five are levels, each with a target encode;
/// RECOVERY is the probe between two levels on the way up.
public enum QualityState: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// 1080p30 at 4.5 Mbps.
    case high = "HIGH"
    /// 720p30 at 2.5 Mbps.
    case medium = "MEDIUM"
    /// 480p24 at 1.2 Mbps.
    case low = "LOW"
    /// 360p24 at 600 kbps.
    case veryLow = "VERY_LOW"
    /// Audio only.
    case error = "ERROR"
    /// Probing one level up; the renditions of the level below stay on until it confirms.
    case recovery = "RECOVERY"

    public var description: String { rawValue }

    /// The levels from best to worst (RECOVERY is not one).
    public static let levels: [QualityState] = [.high, .medium, .low, .veryLow, .error]

    /// 0 for HIGH … 4 for ERROR; nil for RECOVERY.
    public var rank: Int? { Self.levels.firstIndex(of: self) }

    /// The next better level; nil for HIGH and RECOVERY.
    public var up: QualityState? {
        guard let rank, rank > 0 else { return nil }
        return Self.levels[rank - 1]
    }

    /// The next worse level; nil for ERROR and RECOVERY.
    public var down: QualityState? {
        guard let rank, rank + 1 < Self.levels.count else { return nil }
        return Self.levels[rank + 1]
    }

    /// The tallest video rendition a level keeps (`Int.max` for HIGH, nil for audio only).
    public var maximumHeight: Int? {
        switch self {
        case .high: Int.max
        case .medium: 720
        case .low: 480
        case .veryLow: 360
        case .error: nil
        case .recovery: nil
        }
    }
}
