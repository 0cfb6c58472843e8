import Foundation

/// How the packager cuts and keeps a live stream.
public struct PackagerOptions: Sendable, Hashable {
    /// Seconds per part (`EXT-X-PART-INF:PART-TARGET`); 0.2…2.
    public var partTarget: Double
    /// Seconds per segment; segments end on the ladder's aligned keyframes at or after this.
    public var segmentTarget: Double
    /// Seconds of the live DVR window the live media playlists cover.
    public var dvrWindow: Double
    /// Keep every segment and finalize the session as VOD at its end; else segments older than the
    /// DVR window are deleted.
    public var recording: Bool

    public init(partTarget: Double = 0.5, segmentTarget: Double = 2, dvrWindow: Double = 1800, recording: Bool = true) {
        self.partTarget = partTarget
        self.segmentTarget = segmentTarget
        self.dvrWindow = dvrWindow
        self.recording = recording
    }

    public func validated() throws -> PackagerOptions {
        guard (0.2...2).contains(partTarget) else {
            throw PackagerError.invalidOptions("part target \(partTarget) s is outside 0.2…2 s")
        }
        guard segmentTarget >= 1, segmentTarget <= 10, segmentTarget >= 2 * partTarget else {
            throw PackagerError.invalidOptions("segment target \(segmentTarget) s must be 1…10 s and at least two part targets")
        }
        guard dvrWindow >= 3 * segmentTarget else {
            throw PackagerError.invalidOptions("DVR window \(dvrWindow) s must hold at least three segments")
        }
        return self
    }
}

public enum PackagerError: Error, CustomStringConvertible, Sendable {
    case invalidOptions(String)

    public var description: String {
        switch self {
        case .invalidOptions(let text): "invalid packager options: \(text)"
        }
    }
}
