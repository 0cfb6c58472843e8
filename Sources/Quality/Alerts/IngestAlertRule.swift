/// A rule on the incoming stream that ingest alerts check (`IngestAlertRules` holds their limits).
public enum IngestAlertRule: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Received bitrate outside the channel's range.
    case bitrate
    /// Video frame rate outside the channel's range (no video at all reads as 0 fps).
    case frameRate
    /// Keyframes further apart than the limit.
    case keyframeInterval
    /// B-frames (frames presented out of decode order): the passthrough rendition carries them to
    /// players as they are, and they add decoding delay that low-latency playback does not need.
    case bFrames
    /// No audio frames.
    case audioMissing
    /// Video and audio timestamps further apart than the limit.
    case avDrift

    public static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }
}
