/// VP Codec ISO Media File Format Binding §2.2 VPCodecConfigurationRecord (`vpcC`): Enhanced RTMP's
/// `vp09` sequence start. VP9 decoders need no extradata; the record is only checked.
public struct VPCodecConfigurationRecord: Sendable, Hashable {
    public var profile: UInt8
    public var level: UInt8
    public var bitDepth: UInt8
    public var chromaSubsampling: UInt8
    /// The original bytes.
    public var bytes: [UInt8]

    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        do {
            try self.init(record: bytes)
        } catch {
            // Some muxers keep the `vpcC` box's version 1 and flags 0 in front of the record.
            guard bytes.count >= 12, Array(bytes.prefix(4)) == [1, 0, 0, 0], let record = try? Self(record: bytes.dropFirst(4)) else {
                throw error
            }
            self = record
            self.bytes = Array(bytes)
        }
    }

    public init(parsing bytes: [UInt8]) throws(MediaFormatError) {
        try self.init(parsing: bytes[...])
    }

    private init(record bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        let name = "VPCodecConfigurationRecord (vpcC)"
        var reader = ByteReader(bytes, structure: name)
        profile = try reader.u8()
        level = try reader.u8()
        let packed = try reader.u8()
        bitDepth = packed >> 4
        chromaSubsampling = (packed >> 1) & 0x07
        try reader.skip(3)  // colour primaries, transfer characteristics, matrix coefficients
        let initializationSize = Int(try reader.u16())
        try reader.skip(initializationSize)
        guard profile <= 3 else { throw MediaFormatError(name, "profile \(profile) (VP9 defines 0 to 3)") }
        guard [8, 10, 12].contains(bitDepth) else { throw MediaFormatError(name, "bit depth \(bitDepth) (VP9 has 8, 10 or 12)") }
        self.bytes = Array(bytes)
    }
}
