/// The fields of an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1) the platform needs:
/// the picture size (ingest's `StreamStarted`, the packager's `tkhd`/`avc1`), profile and level, and
/// the chroma format and bit depths that `avcC` repeats for the High profiles. The NAL unit comes
/// from an encoder, so a malformed one throws.
public struct H264SequenceParameterSet: Sendable, Hashable {
    public var profileIndication: UInt8
    public var constraintFlags: UInt8
    public var levelIndication: UInt8
    public var chromaFormat: Int
    public var bitDepthLuma: Int
    public var bitDepthChroma: Int
    public var width: Int
    public var height: Int

    public var profile: Int { Int(profileIndication) }
    public var level: Int { Int(levelIndication) }

    /// Profiles whose SPS carries chroma format and bit depth (and whose `avcC` repeats them).
    public static let highProfiles: Set<UInt8> = [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]

    /// `nal` is one SPS NAL unit including its one-byte header, with emulation prevention bytes.
    public init(parsing nal: [UInt8]) throws(MediaFormatError) {
        try self.init(parsing: nal[...])
    }

    public init(parsing nal: ArraySlice<UInt8>) throws(MediaFormatError) {
        guard nal.count >= 4 else { throw MediaFormatError("H.264 SPS", "needs at least 4 bytes, has \(nal.count)") }
        var reader = ByteReader(nal, structure: "H.264 SPS")
        let header = try reader.u8()
        guard header & 0x1F == 7 else { throw MediaFormatError("H.264 SPS", "NAL type \(header & 0x1F) is not 7 (SPS)") }
        profileIndication = try reader.u8()
        constraintFlags = try reader.u8()
        levelIndication = try reader.u8()
        var bits = BitReader(Self.removingEmulationPrevention(reader.restSlice()), structure: "H.264 SPS")
        _ = try bits.readUE()  // seq_parameter_set_id
        chromaFormat = 1
        var separateColourPlanes = false
        bitDepthLuma = 8
        bitDepthChroma = 8
        if Self.highProfiles.contains(profileIndication) {
            chromaFormat = try bits.readUE()
            guard chromaFormat <= 3 else { throw MediaFormatError("H.264 SPS", "chroma_format_idc \(chromaFormat)") }
            if chromaFormat == 3 { separateColourPlanes = try bits.read(1) == 1 }
            bitDepthLuma = 8 + (try bits.readUE())
            bitDepthChroma = 8 + (try bits.readUE())
            guard bitDepthLuma <= 14, bitDepthChroma <= 14 else { throw MediaFormatError("H.264 SPS", "bit depth above 14") }
            _ = try bits.read(1)  // qpprime_y_zero_transform_bypass_flag
            if try bits.read(1) == 1 {  // seq_scaling_matrix_present_flag
                for list in 0..<(chromaFormat == 3 ? 12 : 8) {
                    let present = try bits.read(1)
                    if present == 1 { try Self.skipScalingList(&bits, size: list < 6 ? 16 : 64) }
                }
            }
        }
        _ = try bits.readUE()  // log2_max_frame_num_minus4
        let pocType = try bits.readUE()
        if pocType == 0 {
            _ = try bits.readUE()  // log2_max_pic_order_cnt_lsb_minus4
        } else if pocType == 1 {
            _ = try bits.read(1)
            _ = try bits.readSE()
            _ = try bits.readSE()
            let cycle = try bits.readUE()
            guard cycle <= 255 else { throw MediaFormatError("H.264 SPS", "num_ref_frames_in_pic_order_cnt_cycle \(cycle)") }
            for _ in 0..<cycle { _ = try bits.readSE() }
        } else if pocType != 2 {
            throw MediaFormatError("H.264 SPS", "pic_order_cnt_type \(pocType)")
        }
        _ = try bits.readUE()  // max_num_ref_frames
        _ = try bits.read(1)  // gaps_in_frame_num_value_allowed_flag
        let widthInMacroblocks = try bits.readUE() + 1
        let heightInMapUnits = try bits.readUE() + 1
        let frameMacroblocksOnly = try bits.read(1)
        if frameMacroblocksOnly == 0 { _ = try bits.read(1) }  // mb_adaptive_frame_field_flag
        _ = try bits.read(1)  // direct_8x8_inference_flag
        var crop = (left: 0, right: 0, top: 0, bottom: 0)
        if try bits.read(1) == 1 {
            crop = (try bits.readUE(), try bits.readUE(), try bits.readUE(), try bits.readUE())
        }
        guard widthInMacroblocks <= 1024, heightInMapUnits <= 1024 else {
            throw MediaFormatError("H.264 SPS", "picture of \(widthInMacroblocks)×\(heightInMapUnits) macroblocks is beyond any level")
        }
        let arrayType = separateColourPlanes ? 0 : chromaFormat  // ChromaArrayType
        let cropUnitX = arrayType == 1 || arrayType == 2 ? 2 : 1
        let cropUnitY = (arrayType == 1 ? 2 : 1) * (2 - frameMacroblocksOnly)
        let fullWidth = widthInMacroblocks * 16
        let fullHeight = (2 - frameMacroblocksOnly) * heightInMapUnits * 16
        // Crop offsets are Exp-Golomb values below 2^32; products stay far inside Int64.
        let cropX = (crop.left + crop.right) * cropUnitX
        let cropY = (crop.top + crop.bottom) * cropUnitY
        guard cropX < fullWidth, cropY < fullHeight else {
            throw MediaFormatError("H.264 SPS", "cropping removes the whole \(fullWidth)×\(fullHeight) picture")
        }
        width = fullWidth - cropX
        height = fullHeight - cropY
    }

    private static func skipScalingList(_ bits: inout BitReader, size: Int) throws(MediaFormatError) {
        var last = 8
        var next = 8
        for _ in 0..<size where next != 0 {
            let delta = try bits.readSE()
            guard (-128...127).contains(delta) else { throw MediaFormatError("H.264 SPS", "delta_scale \(delta)") }
            next = (last + delta + 256) % 256
            if next != 0 { last = next }
        }
    }

    /// The RBSP: every `00 00 03` loses its `03`.
    public static func removingEmulationPrevention(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var zeros = 0
        for byte in bytes {
            if zeros >= 2, byte == 3 {
                zeros = 0
                continue
            }
            zeros = byte == 0 ? zeros + 1 : 0
            out.append(byte)
        }
        return out
    }
}
