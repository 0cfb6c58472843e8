import Foundation

/// How the packager cuts and keeps a live stream.
public struct PackagerOptions: Sendable, Hashable {
    /// Seconds per part (`EXT-X-PART-INF:PART-TARGET`); 0.2…2. The default, a quarter second (7
    /// frames at 30 fps, 6 at 24), lets hls.js play under 1.5 s behind live; each viewer then asks
    /// for about four parts and four playlist reloads a second (docs/architecture.md).
    public var partTarget: Double
    /// `PART-HOLD-BACK`: how far behind the live edge players start, in seconds; at least three part
    /// targets (Apple's HLS authoring spec), which is what `nil` means.
    public var partHoldBack: Double?
    /// The media sequence number of a session's first segment. Live sessions start at 1: hls.js
    /// 1.6 takes a playlist whose newest segment is number 0 for one that has none, and then waits
    /// a whole segment before its first blocking reload, which stalls a player that joined in the
    /// stream's first seconds.
    public var firstMediaSequence = 0
    /// Seconds per segment; segments end on the ladder's aligned keyframes at or after this.
    public var segmentTarget: Double
    /// Seconds of the live DVR window the live media playlists cover.
    public var dvrWindow: Double
    /// Keep every segment and finalize the session as VOD at its end; else segments older than the
    /// DVR window are deleted.
    public var recording: Bool

    public static let defaultPartTarget = 0.25

    public init(
        partTarget: Double = PackagerOptions.defaultPartTarget, partHoldBack: Double? = nil, segmentTarget: Double = 2,
        dvrWindow: Double = 1800, recording: Bool = true
    ) {
        self.partTarget = partTarget
        self.partHoldBack = partHoldBack
        self.segmentTarget = segmentTarget
        self.dvrWindow = dvrWindow
        self.recording = recording
    }

    public func validated() throws -> PackagerOptions {
        guard (0.2...2).contains(partTarget) else {
            throw PackagerError.invalidOptions("part target \(partTarget) s is outside 0.2…2 s")
        }
        if let partHoldBack {
            guard partHoldBack.isFinite, partHoldBack >= 3 * partTarget, partHoldBack <= 3 * segmentTarget else {
                throw PackagerError.invalidOptions(
                    "part hold-back \(partHoldBack) s must be at least three part targets (\(3 * partTarget) s) and at most three segments")
            }
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
