/// One video rendition as the multivariant playlist lists it. Figures are the video rendition's
/// own; the renderer adds the audio rendition's to them, since a variant's BANDWIDTH covers every
/// rendition played with it (RFC 8216bis §4.4.6.2).
public struct VariantInfo: Sendable, Hashable {
    /// The rendition's folder (`720p`); the variant URI is `720p/index.m3u8`.
    public let rendition: String
    /// Measured peak segment bit rate, bits per second.
    public let bandwidth: Int
    /// Measured average segment bit rate, bits per second.
    public let averageBandwidth: Int?
    /// RFC 6381 codecs of everything the variant plays, audio included: `avc1.64001f,mp4a.40.2`.
    public let codecs: String
    public let resolution: Resolution?
    public let frameRate: Double?

    public struct Resolution: Sendable, Hashable {
        public var width: Int
        public var height: Int

        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }

    public init(
        rendition: String,
        bandwidth: Int,
        averageBandwidth: Int? = nil,
        codecs: String,
        resolution: Resolution? = nil,
        frameRate: Double? = nil
    ) throws(HLSPlaylistError) {
        try HLSPlaylistError.checkRenditionName(rendition)
        try HLSPlaylistError.checkQuotable(codecs, what: "CODECS")
        guard bandwidth > 0, bandwidth <= 1 << 40 else {
            throw .invalidVariant("\(rendition): BANDWIDTH \(bandwidth) must be a positive number of bits per second")
        }
        if let averageBandwidth, averageBandwidth <= 0 || averageBandwidth > 1 << 40 {
            throw .invalidVariant("\(rendition): AVERAGE-BANDWIDTH \(averageBandwidth) must be a positive number of bits per second")
        }
        if let resolution, resolution.width <= 0 || resolution.height <= 0 || resolution.width > 1 << 16 || resolution.height > 1 << 16 {
            throw .invalidVariant("\(rendition): RESOLUTION \(resolution.width)x\(resolution.height) must be positive")
        }
        if let frameRate, !frameRate.isFinite || frameRate <= 0 || frameRate > 1000 {
            throw .invalidVariant("\(rendition): FRAME-RATE \(frameRate) must be between 0 and 1000")
        }
        self.rendition = rendition
        self.bandwidth = bandwidth
        self.averageBandwidth = averageBandwidth
        self.codecs = codecs
        self.resolution = resolution
        self.frameRate = frameRate
    }
}

/// The one audio rendition, listed as `EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"` and referenced by
/// every video variant; the only variant when no video rendition is live.
public struct AudioRenditionInfo: Sendable, Hashable {
    public static let groupID = "audio"

    /// The rendition's folder; the playlist is `audio/index.m3u8`.
    public let rendition: String
    /// `NAME`, what a player shows in its audio menu.
    public let name: String
    /// `LANGUAGE` (RFC 5646 tag), when known.
    public let language: String?
    public let bandwidth: Int
    public let averageBandwidth: Int?
    public let codecs: String

    public init(
        rendition: String = "audio",
        name: String = "Audio",
        language: String? = nil,
        bandwidth: Int,
        averageBandwidth: Int? = nil,
        codecs: String = "mp4a.40.2"
    ) throws(HLSPlaylistError) {
        try HLSPlaylistError.checkRenditionName(rendition)
        try HLSPlaylistError.checkQuotable(name, what: "NAME")
        try HLSPlaylistError.checkQuotable(codecs, what: "CODECS")
        if let language { try HLSPlaylistError.checkQuotable(language, what: "LANGUAGE") }
        guard bandwidth > 0, bandwidth <= 1 << 40 else {
            throw .invalidVariant("audio: BANDWIDTH \(bandwidth) must be a positive number of bits per second")
        }
        if let averageBandwidth, averageBandwidth <= 0 || averageBandwidth > 1 << 40 {
            throw .invalidVariant("audio: AVERAGE-BANDWIDTH \(averageBandwidth) must be a positive number of bits per second")
        }
        self.rendition = rendition
        self.name = name
        self.language = language
        self.bandwidth = bandwidth
        self.averageBandwidth = averageBandwidth
        self.codecs = codecs
    }
}
