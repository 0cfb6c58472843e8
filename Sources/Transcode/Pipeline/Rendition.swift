import Media

/// One output of the transcoder, announced once on `Transcoder.renditions`.
///
/// `items` starts with a `.track` (H.264 with its `avcC`, or AAC with its AudioSpecificConfig), then
/// packets in decode order with PTS/DTS in the track's timebase, AVCC payloads and keyframe flags;
/// `.discontinuity` when the source broke continuity. It finishes when the transcode ends.
public struct Rendition: Sendable {
    public var name: String
    public var kind: TrackKind
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    public var bitrate: Int?
    /// The source's own packets (the top video rendition when the source qualifies).
    public var isPassthrough: Bool
    public var items: AsyncStream<MediaItem>
}
