/// H.264/H.265 Annex B byte streams (start-code delimited), as MPEG-TS carries them and libx264
/// writes them; one splitter and one AVCC converter for ingest and transcode.
public enum AnnexB {
    /// The NAL units between start codes (3- or 4-byte), without the start codes and trailing zeros.
    public static func nalUnits(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var units: [ArraySlice<UInt8>] = []
        var index = 0
        var unitStart: Int?
        let count = bytes.count
        while index + 2 < count {
            if bytes[index + 2] > 1 {
                index += 3
            } else if bytes[index] == 0, bytes[index + 1] == 0, bytes[index + 2] == 1 {
                if let start = unitStart {
                    var end = index
                    while end > start, bytes[end - 1] == 0 { end -= 1 }
                    if end > start { units.append(bytes[start..<end]) }
                }
                index += 3
                unitStart = index
            } else {
                index += 1
            }
        }
        if let start = unitStart, start < count {
            var end = count
            while end > start, bytes[end - 1] == 0 { end -= 1 }
            if end > start { units.append(bytes[start..<end]) }
        }
        return units
    }

    /// The same NAL units with 4-byte big-endian length prefixes (AVCC, as MediaPacket and CMAF
    /// carry them).
    public static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
        let units = nalUnits(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + units.count)
        for unit in units { appendLengthPrefixed(unit, to: &out) }
        return out
    }

    /// Appends one NAL unit to an AVCC buffer with its 4-byte big-endian length.
    public static func appendLengthPrefixed(_ unit: ArraySlice<UInt8>, to out: inout [UInt8]) {
        let length = UInt32(truncatingIfNeeded: unit.count)
        out.append(UInt8(truncatingIfNeeded: length >> 24))
        out.append(UInt8(truncatingIfNeeded: length >> 16))
        out.append(UInt8(truncatingIfNeeded: length >> 8))
        out.append(UInt8(truncatingIfNeeded: length))
        out.append(contentsOf: unit)
    }
}

extension AnnexB {
    /// One H.264 access unit converted from Annex B to AVCC, with its parameter sets taken out
    /// of band (they go into `avcC`; see `AVCDecoderConfigurationRecord(sequenceParameterSets:pictureParameterSets:)`).
    public struct H264AccessUnit: Sendable, Hashable {
        /// Length-prefixed NAL units without AUD, SPS, PPS and filler.
        public var avcc: [UInt8]
        /// Whether it holds an IDR slice.
        public var isKeyframe: Bool
        public var sequenceParameterSets: [[UInt8]]
        public var pictureParameterSets: [[UInt8]]

        public init(avcc: [UInt8], isKeyframe: Bool, sequenceParameterSets: [[UInt8]], pictureParameterSets: [[UInt8]]) {
            self.avcc = avcc
            self.isKeyframe = isKeyframe
            self.sequenceParameterSets = sequenceParameterSets
            self.pictureParameterSets = pictureParameterSets
        }
    }

    /// Converts one H.264 access unit (as an MPEG-TS PES carries it) to AVCC.
    public static func h264AccessUnit(_ bytes: [UInt8]) -> H264AccessUnit {
        var unit = H264AccessUnit(avcc: [], isKeyframe: false, sequenceParameterSets: [], pictureParameterSets: [])
        unit.avcc.reserveCapacity(bytes.count)
        for nal in nalUnits(bytes) {
            guard let header = nal.first else { continue }
            switch header & 0x1F {
            case 7: unit.sequenceParameterSets.append(Array(nal))
            case 8: unit.pictureParameterSets.append(Array(nal))
            case 9, 12: continue  // access unit delimiter, filler
            case 5:
                unit.isKeyframe = true
                appendLengthPrefixed(nal, to: &unit.avcc)
            default:
                appendLengthPrefixed(nal, to: &unit.avcc)
            }
        }
        return unit
    }
}
