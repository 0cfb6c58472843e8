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

    /// Parses the header at the start of `bytes` (what follows it is not read).
    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        guard bytes.count >= 7 else { throw MediaFormatError("ADTS header", "needs 7 bytes, has \(bytes.count)") }
        var reader = ByteReader(bytes, structure: "ADTS header")
        // syncword (12) ID (1) layer (2) protection_absent (1)
        let sync = try reader.u16()
        guard sync & 0xFFF6 == 0xFFF0 else {
            throw MediaFormatError("ADTS header", "no syncword (AAC in MPEG-TS must be ADTS)")
        }
        let protectionAbsent = sync & 0x0001 != 0
        // profile (2) sampling_frequency_index (4) private (1) channel_configuration (3)
        // original/copy, home, copyright id bit and start (4) aac_frame_length (13)
        // adts_buffer_fullness (11) number_of_raw_data_blocks_in_frame (2): 40 bits
        let fields = try reader.u8()
        let rest = try reader.u32()
        let profile = Int(fields >> 6)
        let frequencyIndex = Int(fields >> 2) & 0x0F
        guard frequencyIndex < AudioSpecificConfig.sampleRates.count else {
            throw MediaFormatError("ADTS header", "reserved sampling frequency index \(frequencyIndex)")
        }
        channelConfiguration = Int(fields & 0x01) << 2 | Int(rest >> 30)
        frameLength = Int(rest >> 13) & 0x1FFF
        headerLength = protectionAbsent ? 7 : 9
        guard frameLength > headerLength else {
            throw MediaFormatError("ADTS header", "frame length \(frameLength) is not longer than its \(headerLength)-byte header")
        }
        let rawDataBlocks = Int(rest & 0x03)
        guard rawDataBlocks == 0 else {
            throw MediaFormatError("ADTS header", "\(rawDataBlocks + 1) raw data blocks in one frame are not supported")
        }
        objectType = profile + 1
        sampleRate = AudioSpecificConfig.sampleRates[frequencyIndex]
    }

    /// The decoder configuration the header implies, as MP4/FLV carry it out of band.
    public var audioSpecificConfig: AudioSpecificConfig {
        AudioSpecificConfig(objectType: objectType, sampleRate: sampleRate, channelConfiguration: channelConfiguration)
    }
}
