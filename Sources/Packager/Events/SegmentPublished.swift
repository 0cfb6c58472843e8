import EventStore
import Foundation
import Media

/// Segment `mediaSequence` of a live session is complete on disk and listed in its playlists, for
/// every rendition in `renditions` (schema 2: one event per segment of the ladder, gathered by
/// `SegmentCollector`; schema 1 was one event per rendition and reads as a list of one). Each
/// entry describes its rendition too, so the DVR and VOD playlists (multivariant included) can be
/// rebuilt from the log alone after a restart, and carries the SHA-256 of the bytes served, so a
/// recording or a file cut from it can be proven to be what aired (`streamd vod verify`).
public struct SegmentPublished: DomainEvent, Hashable {
    public static let eventType = "SegmentPublished"
    public static let schemaVersion = 2

    public var sessionID: String
    public var channelID: String
    public var channelName: String
    public var mediaSequence: Int
    /// False when the session is not recorded: the segments live only while the DVR window holds
    /// them, and the session never becomes a recording. (Absent in older events: recorded.)
    public var recorded: Bool?
    public var renditions: [Rendition]

    public struct Rendition: Sendable, Hashable, Codable {
        public var rendition: String
        public var kind: TrackKind
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
        /// Lowercase hex SHA-256 of the segment's bytes as served; nil in schema 1 events.
        public var sha256: String?
        /// The rendition's init segment, on its first segment only (it never changes in a session).
        public var initialization: StoredFile?

        public init(
            rendition: String, kind: TrackKind, duration: Double, bytes: Int, programDateTime: Date, path: String,
            discontinuity: Bool, codecs: String, width: Int? = nil, height: Int? = nil, frameRate: Double? = nil,
            sha256: String? = nil, initialization: StoredFile? = nil
        ) {
            self.rendition = rendition
            self.kind = kind
            self.duration = duration
            self.bytes = bytes
            self.programDateTime = programDateTime
            self.path = path
            self.discontinuity = discontinuity
            self.codecs = codecs
            self.width = width
            self.height = height
            self.frameRate = frameRate
            self.sha256 = sha256
            self.initialization = initialization
        }
    }

    /// A file of the origin store and the digest of its bytes.
    public struct StoredFile: Sendable, Hashable, Codable {
        /// Relative to the origin store's root.
        public var path: String
        public var bytes: Int
        public var sha256: String

        public init(path: String, bytes: Int, sha256: String) {
            self.path = path
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    public init(
        sessionID: String, channelID: String, channelName: String, mediaSequence: Int, recorded: Bool = true,
        renditions: [Rendition]
    ) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.channelName = channelName
        self.mediaSequence = mediaSequence
        self.recorded = recorded
        self.renditions = renditions
    }

    /// Schema 1 → 2: the one rendition's fields move into `renditions`.
    static func upcastFromVersion1(_ json: JSONValue) throws -> JSONValue {
        guard case .object(var object) = json else { return json }
        var entry: [String: JSONValue] = [:]
        for key in [
            "rendition", "kind", "duration", "bytes", "programDateTime", "path", "discontinuity", "codecs", "width", "height", "frameRate",
        ] {
            if let value = object.removeValue(forKey: key) { entry[key] = value }
        }
        object["renditions"] = .array([.object(entry)])
        return .object(object)
    }
}

/// Lowercase hex of a digest.
enum SHA256Hex {
    static func string<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
