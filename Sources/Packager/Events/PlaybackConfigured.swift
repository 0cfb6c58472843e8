import EventStore

/// A channel's playback settings changed; its next live session uses them.
public struct PlaybackConfigured: DomainEvent, Hashable {
    public static let eventType = "PlaybackConfigured"

    public var channel: String
    /// Seconds of the live DVR window.
    public var dvrWindowSeconds: Double
    /// Keep the whole session as a recording (VOD) instead of only the DVR window.
    public var recording: Bool
    /// LL-HLS part target in seconds (0.2…2).
    public var partTarget: Double
    /// `PART-HOLD-BACK` in seconds; `nil`: three part targets.
    public var partHoldBack: Double?

    public init(channel: String, dvrWindowSeconds: Double, recording: Bool, partTarget: Double, partHoldBack: Double? = nil) {
        self.channel = channel
        self.dvrWindowSeconds = dvrWindowSeconds
        self.recording = recording
        self.partTarget = partTarget
        self.partHoldBack = partHoldBack
    }

    public var options: PackagerOptions {
        PackagerOptions(
            partTarget: partTarget, partHoldBack: partHoldBack, segmentTarget: 2, dvrWindow: dvrWindowSeconds, recording: recording)
    }
}
