/// ISO/IEC 14496-15 §5.3.3.1: the `avcC` box payload, which FLV also carries as the AVC sequence header.
public struct AVCDecoderConfigurationRecord: Sendable, Hashable {
    public var profileIndication: UInt8
    public var profileCompatibility: UInt8
    public var levelIndication: UInt8
    /// Bytes in each NAL unit's length prefix (1, 2 or 4).
    public var nalUnitLengthSize: Int
    public var sequenceParameterSets: [[UInt8]]
    public var pictureParameterSets: [[UInt8]]

    public init(
        profileIndication: UInt8, profileCompatibility: UInt8, levelIndication: UInt8,
        nalUnitLengthSize: Int = 4, sequenceParameterSets: [[UInt8]], pictureParameterSets: [[UInt8]]
    ) {
        self.profileIndication = profileIndication
        self.profileCompatibility = profileCompatibility
        self.levelIndication = levelIndication
        self.nalUnitLengthSize = nalUnitLengthSize
        self.sequenceParameterSets = sequenceParameterSets
        self.pictureParameterSets = pictureParameterSets
    }

    public init(parsing bytes: [UInt8]) throws(MediaFormatError) {
        try self.init(parsing: bytes[...])
    }

    public init(parsing bytes: ArraySlice<UInt8>) throws(MediaFormatError) {
        var reader = ByteReader(bytes, structure: "AVCDecoderConfigurationRecord")
        let version = try reader.u8()
        guard version == 1 else {
            throw MediaFormatError("AVCDecoderConfigurationRecord", "configurationVersion \(version), expected 1")
        }
        profileIndication = try reader.u8()
        profileCompatibility = try reader.u8()
        levelIndication = try reader.u8()
        let lengthSizeMinusOne = try reader.u8() & 0x03
        guard lengthSizeMinusOne != 2 else {
            throw MediaFormatError("AVCDecoderConfigurationRecord", "NAL length size 3 is not allowed")
        }
        nalUnitLengthSize = Int(lengthSizeMinusOne) + 1
        let spsCount = Int(try reader.u8() & 0x1F)
        var sps: [[UInt8]] = []
        for _ in 0..<spsCount {
            let length = Int(try reader.u16())
            sps.append(try reader.bytes(length))
        }
        let ppsCount = Int(try reader.u8())
        var pps: [[UInt8]] = []
        for _ in 0..<ppsCount {
            let length = Int(try reader.u16())
            pps.append(try reader.bytes(length))
        }
        guard !sps.isEmpty, !pps.isEmpty else {
            throw MediaFormatError("AVCDecoderConfigurationRecord", "needs at least one SPS and one PPS")
        }
        sequenceParameterSets = sps
        pictureParameterSets = pps
        // High-profile extensions (chroma format, bit depth) may follow; they are not needed here.
    }

    /// The record for parameter sets taken from an Annex B stream or an encoder's global header:
    /// profile, compatibility and level come from the first SPS, NAL lengths are 4 bytes. Nil
    /// without an SPS of at least 4 bytes or without a PPS.
    public init?(sequenceParameterSets sps: [[UInt8]], pictureParameterSets pps: [[UInt8]]) {
        guard let first = sps.first, !pps.isEmpty else { return nil }
        var reader = ByteReader(first, structure: "H.264 SPS")
        // NAL header, profile_idc, constraint flags (the compatibility byte), level_idc.
        guard let header = try? reader.u32() else { return nil }
        self.init(
            profileIndication: UInt8(truncatingIfNeeded: header >> 16), profileCompatibility: UInt8(truncatingIfNeeded: header >> 8),
            levelIndication: UInt8(truncatingIfNeeded: header), nalUnitLengthSize: 4, sequenceParameterSets: sps,
            pictureParameterSets: pps)
    }

    /// The record's bytes, as written in `avcC`.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = [1, profileIndication, profileCompatibility, levelIndication]
        out.append(0xFC | UInt8(truncatingIfNeeded: nalUnitLengthSize - 1) & 0x03)
        out.append(0xE0 | UInt8(truncatingIfNeeded: sequenceParameterSets.count) & 0x1F)
        for sps in sequenceParameterSets {
            out.append(UInt8(truncatingIfNeeded: sps.count >> 8))
            out.append(UInt8(truncatingIfNeeded: sps.count))
            out.append(contentsOf: sps)
        }
        out.append(UInt8(truncatingIfNeeded: pictureParameterSets.count))
        for pps in pictureParameterSets {
            out.append(UInt8(truncatingIfNeeded: pps.count >> 8))
            out.append(UInt8(truncatingIfNeeded: pps.count))
            out.append(contentsOf: pps)
        }
        return out
    }

    /// RFC 6381 codec string, e.g. `avc1.64001F`.
    public var codecString: String {
        let hex = [profileIndication, profileCompatibility, levelIndication]
            .map { byte in
                let s = String(byte, radix: 16, uppercase: true)
                return s.count == 1 ? "0" + s : s
            }
            .joined()
        return "avc1.\(hex)"
    }
}
