import Media

/// An ADTS frame header (ISO/IEC 13818-7 §6.2 / 14496-3 §1.A.2): how MPEG-TS carries AAC.
public struct ADTSHeader: Sendable, Hashable {
    /// AAC profile + 1 (2 = AAC-LC).
    public var objectType: Int
    public var sampleRate: Int
    public var channelConfiguration: Int
    /// 7, or 9 with a CRC.
    public var headerLength: Int
    /// The whole frame, header included.
    public var frameLength: Int

    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        guard bytes.count >= 7 else { throw MediaFormatError("ADTS header", "needs 7 bytes, has \(bytes.count)") }
        let i = bytes.startIndex
        guard bytes[i] == 0xFF, bytes[i + 1] & 0xF6 == 0xF0 else {
            throw MediaFormatError("ADTS header", "no syncword (AAC in MPEG-TS must be ADTS)")
        }
        let protectionAbsent = bytes[i + 1] & 0x01 != 0
        let profile = Int(bytes[i + 2] >> 6)
        let frequencyIndex = Int(bytes[i + 2] >> 2) & 0x0F
        guard frequencyIndex < AudioSpecificConfig.sampleRates.count else {
            throw MediaFormatError("ADTS header", "reserved sampling frequency index \(frequencyIndex)")
        }
        channelConfiguration = Int(bytes[i + 2] & 0x01) << 2 | Int(bytes[i + 3] >> 6)
        frameLength = Int(bytes[i + 3] & 0x03) << 11 | Int(bytes[i + 4]) << 3 | Int(bytes[i + 5] >> 5)
        headerLength = protectionAbsent ? 7 : 9
        guard frameLength > headerLength else {
            throw MediaFormatError("ADTS header", "frame length \(frameLength) is not longer than its \(headerLength)-byte header")
        }
        guard bytes[i + 6] & 0x03 == 0 else {
            throw MediaFormatError("ADTS header", "\(Int(bytes[i + 6] & 0x03) + 1) raw data blocks in one frame are not supported")
        }
        objectType = profile + 1
        sampleRate = AudioSpecificConfig.sampleRates[frequencyIndex]
    }

    /// The decoder configuration the header implies, as MP4/FLV carry it out of band.
    public var audioSpecificConfig: AudioSpecificConfig {
        AudioSpecificConfig(objectType: objectType, sampleRate: sampleRate, channelConfiguration: channelConfiguration)
    }
}
