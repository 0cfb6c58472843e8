import EventStore
import Media

/// A rendition stopped producing media.
public struct RenditionStopped: DomainEvent, Hashable {
    public static let eventType = "RenditionStopped"
    public var channel: String
    public var rendition: String
    public var kind: TrackKind
    public var width: Int?
    public var height: Int?
    public var bitrate: Int?
    public var reason: RenditionReason
    /// Presentation time of the frame that would have come next, in seconds of the source's timeline.
    public var presentationTime: Double?

    public init(
        channel: String, rendition: String, kind: TrackKind, width: Int?, height: Int?, bitrate: Int?,
        reason: RenditionReason, presentationTime: Double?
    ) {
        self.channel = channel
        self.rendition = rendition
        self.kind = kind
        self.width = width
        self.height = height
        self.bitrate = bitrate
        self.reason = reason
        self.presentationTime = presentationTime
    }
}
