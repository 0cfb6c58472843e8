/// Shape and codec of one track of a live source or rendition.
public struct TrackInfo: Sendable, Hashable {
    public var kind: TrackKind
    public var codec: Codec
    public var configuration: CodecConfiguration?
    /// The timebase of this track's packets.
    public var timebase: Timebase
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    public var sampleRate: Int?
    public var channels: Int?
    /// Declared or target bitrate in bits per second, when known.
    public var bitrate: Int?

    public init(
        kind: TrackKind, codec: Codec, configuration: CodecConfiguration? = nil, timebase: Timebase,
        width: Int? = nil, height: Int? = nil, frameRate: Double? = nil,
        sampleRate: Int? = nil, channels: Int? = nil, bitrate: Int? = nil
    ) {
        self.kind = kind
        self.codec = codec
        self.configuration = configuration
        self.timebase = timebase
        self.width = width
        self.height = height
        self.frameRate = frameRate
        self.sampleRate = sampleRate
        self.channels = channels
        self.bitrate = bitrate
    }
}
