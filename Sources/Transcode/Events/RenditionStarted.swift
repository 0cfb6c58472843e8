import EventStore
import Media

/// A rendition began producing media (its first packet is an IDR).
public struct RenditionStarted: DomainEvent, Hashable {
    public static let eventType = "RenditionStarted"
    public var channel: String
    public var rendition: String
    public var kind: TrackKind
    /// RFC 6381 codec string (`avc1.64001F`, `mp4a.40.2`).
    public var codec: String
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    public var bitrate: Int?
    /// The source's own packets, not re-encoded.
    public var passthrough: Bool
    public var reason: RenditionReason
    /// Presentation time of the first frame, in seconds of the source's timeline.
    public var presentationTime: Double?

    public init(
        channel: String, rendition: String, kind: TrackKind, codec: String, width: Int?, height: Int?,
        frameRate: Double?, bitrate: Int?, passthrough: Bool, reason: RenditionReason, presentationTime: Double?
    ) {
        self.channel = channel
        self.rendition = rendition
        self.kind = kind
        self.codec = codec
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.bitrate = bitrate
        self.passthrough = passthrough
        self.reason = reason
        self.presentationTime = presentationTime
    }
}
