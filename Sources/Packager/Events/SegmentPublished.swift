import EventStore
import Foundation
import Media

/// A segment of a rendition is complete on disk and listed in its playlists. Each one describes its
/// rendition too, so the DVR and VOD playlists (multivariant included) can be rebuilt from the log
/// alone after a restart.
public struct SegmentPublished: DomainEvent, Hashable {
    public static let eventType = "SegmentPublished"

    public var sessionID: String
    public var channelID: String
    public var channelName: String
    public var rendition: String
    public var kind: TrackKind
    public var mediaSequence: Int
    /// Seconds, exact to the sample.
    public var duration: Double
    public var bytes: Int
    public var programDateTime: Date
    /// The segment file, relative to the origin store's root.
    public var path: String
    /// The first segment after the encoder reconnected or the rendition restarted.
    public var discontinuity: Bool
    /// RFC 6381 codec string of the rendition (`avc1.64001f`, `mp4a.40.2`).
    public var codecs: String
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    /// False when the session is not recorded: the segment lives only while the DVR window holds
    /// it, and the session never becomes a recording. (Absent in older events: recorded.)
    public var recorded: Bool?

    public init(
        sessionID: String, channelID: String, channelName: String, rendition: String, kind: TrackKind,
        mediaSequence: Int, duration: Double, bytes: Int, programDateTime: Date, path: String,
        discontinuity: Bool, codecs: String, width: Int? = nil, height: Int? = nil, frameRate: Double? = nil, recorded: Bool = true
    ) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.channelName = channelName
        self.rendition = rendition
        self.kind = kind
        self.mediaSequence = mediaSequence
        self.duration = duration
        self.bytes = bytes
        self.programDateTime = programDateTime
        self.path = path
        self.discontinuity = discontinuity
        self.codecs = codecs
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.recorded = recorded
    }
}
