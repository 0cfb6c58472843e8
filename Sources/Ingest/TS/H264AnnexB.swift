import Media

/// H.264 Annex B (start-code delimited, as MPEG-TS carries it) to AVCC (4-byte length prefixes,
/// as MediaPacket and CMAF carry it), taking the parameter sets out of band.
public enum H264AnnexB {
    /// One access unit, converted.
    public struct AccessUnit: Sendable, Hashable {
        /// Length-prefixed NAL units without AUD, SPS, PPS and filler.
        public var avcc: [UInt8]
        /// Whether it holds an IDR slice.
        public var isKeyframe: Bool
        public var sequenceParameterSets: [[UInt8]]
        public var pictureParameterSets: [[UInt8]]
    }

    public static func convert(_ bytes: [UInt8]) -> AccessUnit {
        let units = AnnexB.nalUnits(bytes)
        var unit = AccessUnit(avcc: [], isKeyframe: false, sequenceParameterSets: [], pictureParameterSets: [])
        unit.avcc.reserveCapacity(bytes.count)
        for nal in units {
            guard let header = nal.first else { continue }
            switch header & 0x1F {
            case 7: unit.sequenceParameterSets.append(Array(nal))
            case 8: unit.pictureParameterSets.append(Array(nal))
            case 9, 12: continue
            default:
                if header & 0x1F == 5 { unit.isKeyframe = true }
                AnnexB.appendLengthPrefixed(nal, to: &unit.avcc)
            }
        }
        return unit
    }

    /// The `avcC` record for these parameter sets (profile and level from the first SPS).
    public static func configuration(sps: [[UInt8]], pps: [[UInt8]]) -> AVCDecoderConfigurationRecord? {
        guard let first = sps.first, first.count >= 4, !pps.isEmpty else { return nil }
        return AVCDecoderConfigurationRecord(
            profileIndication: first[1], profileCompatibility: first[2], levelIndication: first[3],
            nalUnitLengthSize: 4, sequenceParameterSets: sps, pictureParameterSets: pps)
    }
}
