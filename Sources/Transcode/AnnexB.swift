import Media

extension AnnexB {
    /// The same NAL units with 4-byte big-endian length prefixes (AVCC).
    static func lengthPrefixed(_ bytes: [UInt8]) -> [UInt8] {
        let units = nalUnits(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + units.count)
        for unit in units {
            let length = UInt32(truncatingIfNeeded: unit.count)
            out.append(UInt8(truncatingIfNeeded: length >> 24))
            out.append(UInt8(truncatingIfNeeded: length >> 16))
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
            out.append(contentsOf: unit)
        }
        return out
    }
}
