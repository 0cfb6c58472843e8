import Media

/// What an encoder declared in `@setDataFrame`/`onMetaData`.
public struct StreamMetadata: Sendable, Hashable, Codable {
    public var width: Int?
    public var height: Int?
    public var frameRate: Double?
    /// Kilobits per second, as encoders write it.
    public var videoDataRate: Double?
    public var audioDataRate: Double?
    public var videoCodec: String?
    public var audioCodec: String?
    public var audioSampleRate: Int?
    public var audioChannels: Int?
    public var encoder: String?

    public init() {}

    init(_ object: AMF0Object) {
        func int(_ key: String) -> Int? {
            guard let value = object[key]?.number, value.isFinite, value >= 0, value < 1e9 else { return nil }
            return Int(value)
        }
        func double(_ key: String) -> Double? {
            guard let value = object[key]?.number, value.isFinite, value >= 0 else { return nil }
            return value
        }
        width = int("width")
        height = int("height")
        frameRate = double("framerate") ?? double("videoframerate")
        videoDataRate = double("videodatarate")
        audioDataRate = double("audiodatarate")
        videoCodec = Self.codecName(object["videocodecid"])
        audioCodec = Self.codecName(object["audiocodecid"])
        audioSampleRate = int("audiosamplerate")
        if let channels = int("audiochannels") {
            audioChannels = channels
        } else if let stereo = object["stereo"]?.bool {
            audioChannels = stereo ? 2 : 1
        }
        encoder = object["encoder"]?.string
    }

    /// FLV codec ids (7, 10), Enhanced-RTMP FourCCs as numbers (`hvc1` as 0x68766331) or strings.
    static func codecName(_ value: AMF0Value?) -> String? {
        switch value {
        case .string(let text): return text
        case .number(let number) where number.isFinite && number >= 0 && number < 4_294_967_296:
            let id = UInt32(number)
            switch id {
            case 7: return "avc1"
            case 10: return "mp4a"
            case 2: return ".mp3"
            case 0..<256: return "flv-\(id)"
            default:
                let bytes = RTMPMessage.bigEndian(id)
                return String(decoding: bytes, as: UTF8.self)
            }
        default: return nil
        }
    }
}

/// The shape of a live stream once its first coded frame arrived (for StreamStarted).
public struct StreamDescription: Sendable, Hashable, Codable {
    public struct Video: Sendable, Hashable, Codable {
        public var codec: String
        public var width: Int?
        public var height: Int?
        public var frameRate: Double?
        /// Bits per second declared by the encoder.
        public var bitrate: Int?
    }

    public struct Audio: Sendable, Hashable, Codable {
        public var codec: String
        public var sampleRate: Int?
        public var channels: Int?
        public var bitrate: Int?
    }

    public var video: Video?
    public var audio: Audio?
    public var encoder: String?

    public init(video: Video? = nil, audio: Audio? = nil, encoder: String? = nil) {
        self.video = video
        self.audio = audio
        self.encoder = encoder
    }

    /// From the tracks as the container announced them (RTMP's sequence headers, TS's PMT and
    /// first frames).
    public init(videoTrack video: TrackInfo?, audioTrack audio: TrackInfo?, encoder: String?) {
        self.init(
            video: video.map {
                .init(codec: $0.codec.description, width: $0.width, height: $0.height, frameRate: $0.frameRate, bitrate: $0.bitrate)
            },
            audio: audio.map { .init(codec: $0.codec.description, sampleRate: $0.sampleRate, channels: $0.channels, bitrate: $0.bitrate) },
            encoder: encoder)
    }
}
