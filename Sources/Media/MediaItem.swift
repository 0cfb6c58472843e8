/// What a live source (an ingest session) or a rendition yields, in order.
public enum MediaItem: Sendable {
    /// A track's codec and shape; sent before its first packet and again whenever it changes.
    case track(TrackInfo)
    case packet(MediaPacket)
    /// The source broke continuity (an encoder reconnected): timestamps may restart.
    case discontinuity
}
