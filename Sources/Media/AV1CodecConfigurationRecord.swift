/// AV1 Codec ISOBMFF Binding §2.3 AV1CodecConfigurationRecord (`av1C`): Enhanced RTMP's `av01`
/// sequence start. `bytes` (header and configOBUs) is what libdav1d and libaom take as extradata.
public struct AV1CodecConfigurationRecord: Sendable, Hashable {
    public var profile: UInt8
    public var level: UInt8
    public var tier: UInt8
    public var bitDepth: Int
    public var isMonochrome: Bool
    /// The sequence header OBU (and metadata OBUs) the record may carry.
    public var configOBUs: [UInt8]
    /// The original bytes.
    public var bytes: [UInt8]

    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        let name = "AV1CodecConfigurationRecord (av1C)"
        var reader = ByteReader(bytes, structure: name)
        let first = try reader.u8()
        guard first == 0x81 else {
            throw MediaFormatError(name, "starts with 0x\(String(first, radix: 16)), expected 0x81 (marker 1, version 1)")
        }
        let second = try reader.u8()
        let third = try reader.u8()
        _ = try reader.u8()  // initial presentation delay
        profile = second >> 5
        level = second & 0x1F
        guard profile <= 2 else { throw MediaFormatError(name, "seq_profile \(profile) (AV1 defines 0 to 2)") }
        tier = third >> 7
        let highBitDepth = third & 0x40 != 0
        let twelveBit = third & 0x20 != 0
        bitDepth = highBitDepth ? (twelveBit ? 12 : 10) : 8
        isMonochrome = third & 0x10 != 0
        configOBUs = reader.rest()
        self.bytes = Array(bytes)
    }

    public init(parsing bytes: [UInt8]) throws(MediaFormatError) {
        try self.init(parsing: bytes[...])
    }
}
