/// ISO/IEC 14496-3 §1.6.2.1 AudioSpecificConfig: the AAC decoder configuration (FLV's AAC sequence header).
public struct AudioSpecificConfig: Sendable, Hashable {
    public static let sampleRates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]

    /// Audio object type (2 = AAC-LC, 5 = SBR/HE-AAC, 29 = PS).
    public var objectType: Int
    public var sampleRate: Int
    public var channelConfiguration: Int
    /// The original bytes, passed through to `esds` unchanged.
    public var bytes: [UInt8]

    public init(parsing bytes: [UInt8]) throws(MediaFormatError) {
        try self.init(parsing: bytes[...])
    }

    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        guard bytes.count >= 2 else {
            throw MediaFormatError("AudioSpecificConfig", "needs at least 2 bytes, has \(bytes.count)")
        }
        var bits = BitReader(bytes, structure: "AudioSpecificConfig")
        var objectType = try bits.read(5)
        if objectType == 31 { objectType = 32 + (try bits.read(6)) }
        let frequencyIndex = try bits.read(4)
        let sampleRate: Int
        if frequencyIndex == 15 {
            sampleRate = try bits.read(24)
        } else if frequencyIndex < Self.sampleRates.count {
            sampleRate = Self.sampleRates[frequencyIndex]
        } else {
            throw MediaFormatError("AudioSpecificConfig", "reserved sampling frequency index \(frequencyIndex)")
        }
        let channels = try bits.read(4)
        guard sampleRate > 0 else { throw MediaFormatError("AudioSpecificConfig", "sample rate 0") }
        self.objectType = objectType
        self.sampleRate = sampleRate
        self.channelConfiguration = channels
        self.bytes = Array(bytes)
    }

    /// Builds a plain AAC config (no explicit rate escape) for an encoder's output.
    public init(objectType: Int, sampleRate: Int, channelConfiguration: Int) {
        let index = Self.sampleRates.firstIndex(of: sampleRate) ?? 15
        self.objectType = objectType
        self.sampleRate = sampleRate
        self.channelConfiguration = channelConfiguration
        var writer = BitWriter()
        writer.write(objectType, bits: 5)
        writer.write(index, bits: 4)
        if index == 15 { writer.write(sampleRate, bits: 24) }
        writer.write(channelConfiguration, bits: 4)
        self.bytes = writer.bytes
    }

    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    public var codecString: String { "mp4a.40.\(objectType)" }
}
