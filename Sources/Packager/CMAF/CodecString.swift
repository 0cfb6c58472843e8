import Media

/// RFC 6381 `CODECS` values for the multivariant playlist.
public enum CodecString {
    /// `avc1.PPCCLL`: profile_idc, the constraint-flag byte and level_idc as the first SPS says
    /// (the `avcC` header copies them, but encoders have been seen to disagree; the SPS is what
    /// the decoder obeys). Falls back to the record's header when there is no usable SPS.
    public static func avc(_ record: AVCDecoderConfigurationRecord) -> String {
        if let sps = record.sequenceParameterSets.first, sps.count >= 4, sps[0] & 0x1F == 7 {
            return "avc1." + hex(sps[1]) + hex(sps[2]) + hex(sps[3])
        }
        return "avc1." + hex(record.profileIndication) + hex(record.profileCompatibility) + hex(record.levelIndication)
    }

    /// `mp4a.40.N`, N the AudioSpecificConfig's audio object type (2 AAC-LC, 5 HE-AAC, 29 HE-AACv2).
    public static func aac(_ config: AudioSpecificConfig) -> String {
        "mp4a.40.\(config.objectType)"
    }

    /// The track's codec string, or nil for a codec the packager does not write.
    public static func of(_ track: TrackInfo) -> String? {
        switch track.configuration {
        case .avc(let record): avc(record)
        case .aac(let config): aac(config)
        default: nil
        }
    }

    static func hex(_ byte: UInt8) -> String {
        let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
