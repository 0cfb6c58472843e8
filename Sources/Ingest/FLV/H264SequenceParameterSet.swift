import Media

/// The picture size from an H.264 SPS (ITU-T H.264 §7.3.2.1.1), for StreamStarted and track infos.
public struct H264SequenceParameterSet: Sendable, Hashable {
    public var profile: Int
    public var level: Int
    public var width: Int
    public var height: Int

    public init(parsing nal: [UInt8]) throws {
        guard nal.count > 4, nal[0] & 0x1F == 7 else {
            throw MediaFormatError("SPS", "not an SPS NAL unit")
        }
        var rbsp: [UInt8] = []
        rbsp.reserveCapacity(nal.count)
        var zeros = 0
        for byte in nal.dropFirst() {
            if zeros >= 2, byte == 3 {
                zeros = 0
                continue
            }
            zeros = byte == 0 ? zeros + 1 : 0
            rbsp.append(byte)
        }
        var bits = BitReader(rbsp)
        profile = try bits.read(8)
        _ = try bits.read(8)
        level = try bits.read(8)
        _ = try bits.readUE()
        var chromaFormat = 1
        var separateColourPlanes = false
        if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(profile) {
            chromaFormat = try bits.readUE()
            if chromaFormat == 3 { separateColourPlanes = try bits.read(1) == 1 }
            _ = try bits.readUE()
            _ = try bits.readUE()
            _ = try bits.read(1)
            if try bits.read(1) == 1 {
                for list in 0..<(chromaFormat == 3 ? 12 : 8) where try bits.read(1) == 1 {
                    var last = 8
                    var next = 8
                    for _ in 0..<(list < 6 ? 16 : 64) where next != 0 {
                        next = (last + (try bits.readSE()) + 256) % 256
                        last = next == 0 ? last : next
                    }
                }
            }
        }
        _ = try bits.readUE()
        let pocType = try bits.readUE()
        if pocType == 0 {
            _ = try bits.readUE()
        } else if pocType == 1 {
            _ = try bits.read(1)
            _ = try bits.readSE()
            _ = try bits.readSE()
            let cycle = try bits.readUE()
            guard cycle <= 255 else { throw MediaFormatError("SPS", "POC cycle of \(cycle) frames") }
            for _ in 0..<cycle { _ = try bits.readSE() }
        }
        _ = try bits.readUE()
        _ = try bits.read(1)
        let widthInMacroblocks = try bits.readUE() + 1
        let heightInMapUnits = try bits.readUE() + 1
        let frameMacroblocksOnly = try bits.read(1)
        if frameMacroblocksOnly == 0 { _ = try bits.read(1) }
        _ = try bits.read(1)
        var crop = (left: 0, right: 0, top: 0, bottom: 0)
        if try bits.read(1) == 1 {
            crop = (try bits.readUE(), try bits.readUE(), try bits.readUE(), try bits.readUE())
        }
        let arrayType = separateColourPlanes ? 0 : chromaFormat
        let cropX = arrayType == 0 ? 1 : (arrayType == 3 ? 1 : 2)
        let cropY = (arrayType == 0 ? 1 : (arrayType == 1 ? 2 : 1)) * (2 - frameMacroblocksOnly)
        let fullWidth = widthInMacroblocks * 16
        let fullHeight = heightInMapUnits * 16 * (2 - frameMacroblocksOnly)
        let width = fullWidth - (crop.left + crop.right) * cropX
        let height = fullHeight - (crop.top + crop.bottom) * cropY
        guard width > 0, height > 0, width <= 16384, height <= 16384 else {
            throw MediaFormatError("SPS", "picture size \(width)x\(height) is out of range")
        }
        self.width = width
        self.height = height
    }
}
