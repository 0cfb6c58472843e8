/// RFC 7845 §5.1 identification header (`OpusHead`): Enhanced RTMP's `Opus` sequence start, and
/// libavcodec's Opus extradata. Multi-byte fields are little-endian, as in Ogg.
public struct OpusHead: Sendable, Hashable {
    public var channelCount: Int
    public var preSkip: Int
    /// The encoder's input rate (informational: Opus always decodes at 48 kHz).
    public var inputSampleRate: Int
    public var mappingFamily: UInt8
    /// The original bytes.
    public var bytes: [UInt8]

    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        let name = "Opus identification header (OpusHead)"
        var reader = ByteReader(bytes, structure: name)
        guard try reader.bytes(8) == Array("OpusHead".utf8) else { throw MediaFormatError(name, "does not start with 'OpusHead'") }
        let version = try reader.u8()
        guard version & 0xF0 == 0 else { throw MediaFormatError(name, "version \(version) (only major version 0 is defined)") }
        let channels = try reader.u8()
        guard channels > 0 else { throw MediaFormatError(name, "0 channels") }
        let skip = try reader.u16()
        let rate = try reader.u32()
        try reader.skip(2)  // output gain
        mappingFamily = try reader.u8()
        if mappingFamily == 0 {
            guard channels <= 2 else { throw MediaFormatError(name, "\(channels) channels with mapping family 0 (at most 2)") }
        } else {
            let streams = try reader.u8()
            let coupled = try reader.u8()
            guard streams > 0, coupled <= streams else {
                throw MediaFormatError(name, "\(streams) streams with \(coupled) coupled")
            }
            try reader.skip(Int(channels))
        }
        channelCount = Int(channels)
        preSkip = Int(skip.byteSwapped)
        inputSampleRate = Int(rate.byteSwapped)
        self.bytes = Array(bytes)
    }

    public init(parsing bytes: [UInt8]) throws(MediaFormatError) {
        try self.init(parsing: bytes[...])
    }
}
