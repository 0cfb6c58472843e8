/// Why a rendition started or stopped; carried by `RenditionStarted` and `RenditionStopped`.
public enum RenditionReason: String, Sendable, Hashable, Codable {
    /// The stream began (or the passthrough decision settled).
    case streamStarted
    case streamEnded
    /// The control API (the quality state machine) turned the rung on or off.
    case enabled
    case disabled
    /// Encoding fell behind real time; this was the lowest-priority rung.
    case overload
    /// Encoding kept up again long enough to bring a shed rung back.
    case headroomRestored
    /// The rung's encoder failed; see the matching `TranscodeFailed`.
    case failed
    /// The passed-through source's keyframes came further apart than the passthrough limit, so its
    /// segments could no longer fit the playlist's target duration; the ladder's rungs go on.
    case keyframesTooSparse
}
