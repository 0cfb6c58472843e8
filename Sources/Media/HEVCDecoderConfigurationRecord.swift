/// ISO/IEC 14496-15 §8.3.3.1 HEVCDecoderConfigurationRecord (`hvcC`): the HEVC decoder configuration
/// (Enhanced RTMP's `hvc1` sequence start). Checked for shape; `bytes` is what libavcodec takes as
/// extradata.
public struct HEVCDecoderConfigurationRecord: Sendable, Hashable {
    public struct NALUnitArray: Sendable, Hashable {
        /// 32 VPS, 33 SPS, 34 PPS, 39/40 SEI.
        public var type: UInt8
        public var units: [[UInt8]]
    }

    public var generalProfileIDC: UInt8
    public var generalLevelIDC: UInt8
    /// Bytes in each NAL unit's length prefix: 1, 2 or 4.
    public var lengthSize: Int
    public var arrays: [NALUnitArray]
    /// The original bytes.
    public var bytes: [UInt8]

    public var sequenceParameterSets: [[UInt8]] { arrays.filter { $0.type == 33 }.flatMap(\.units) }

    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        let name = "HEVCDecoderConfigurationRecord (hvcC)"
        var reader = ByteReader(bytes, structure: name)
        let version = try reader.u8()
        guard version == 1 else { throw MediaFormatError(name, "configurationVersion \(version), expected 1") }
        generalProfileIDC = try reader.u8() & 0x1F
        try reader.skip(4 + 6)  // compatibility and constraint flags
        generalLevelIDC = try reader.u8()
        try reader.skip(2 + 1 + 1 + 1 + 1 + 2)  // segmentation, parallelism, chroma, bit depths, frame rate
        let lengthSizeMinusOne = try reader.u8() & 0x03
        guard lengthSizeMinusOne != 2 else { throw MediaFormatError(name, "NAL unit length size 3 (only 1, 2 or 4 exist)") }
        lengthSize = Int(lengthSizeMinusOne) + 1
        let arrayCount = try reader.u8()
        var arrays: [NALUnitArray] = []
        for _ in 0..<arrayCount {
            let type = try reader.u8() & 0x3F
            let count = try reader.u16()
            var units: [[UInt8]] = []
            for _ in 0..<count {
                let length = Int(try reader.u16())
                guard length > 0 else { throw MediaFormatError(name, "empty NAL unit of type \(type) at offset \(reader.offset)") }
                units.append(try reader.bytes(length))
            }
            arrays.append(NALUnitArray(type: type, units: units))
        }
        guard arrays.contains(where: { $0.type == 33 && !$0.units.isEmpty }) else {
            throw MediaFormatError(name, "no sequence parameter set (NAL unit type 33)")
        }
        self.arrays = arrays
        self.bytes = Array(bytes)
    }

    public init(parsing bytes: [UInt8]) throws(MediaFormatError) {
        try self.init(parsing: bytes[...])
    }
}
