/// The one audio rendition every video rendition shares.
public struct AudioProfile: Sendable, Hashable, Codable {
    public var sampleRate: Int
    public var channels: Int
    public var bitrate: Int

    public init(sampleRate: Int = 48_000, channels: Int = 2, bitrate: Int = 128_000) {
        self.sampleRate = sampleRate
        self.channels = channels
        self.bitrate = bitrate
    }

    /// AAC-LC 48 kHz stereo 128 kbps.
    public static let standard = AudioProfile()
}
