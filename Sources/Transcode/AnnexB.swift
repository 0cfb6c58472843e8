/// Annex B (start-code delimited) H.264 byte streams, as libx264 writes them.
enum AnnexB {
    /// The NAL units between start codes, without the start codes.
    static func nalUnits(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var units: [ArraySlice<UInt8>] = []
        var index = 0
        var unitStart: Int?
        let count = bytes.count
        while index + 2 < count {
            if bytes[index] == 0, bytes[index + 1] == 0, bytes[index + 2] == 1 {
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
        if let start = unitStart, start < count { units.append(bytes[start..<count]) }
        return units
    }

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
