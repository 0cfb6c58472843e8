/// Writes one CMAF fragment (chunk): a `moof` for track 1 followed by its `mdat`.
///
/// `moof` = `mfhd` (sequence number) + `traf` = `tfhd` (default-base-is-moof, so offsets count
/// from the `moof`'s first byte) + `tfdt` version 1 (64-bit base media decode time) + `trun`
/// (data offset, and per sample: duration, size, flags and, when any sample has one, the
/// composition offset in version 1, signed). The whole fragment is built in one buffer reserved
/// at its exact size, so a part costs one allocation however many samples it has.
public enum CMAFFragmentWriter {
    /// `tfhd` flags: default-base-is-moof.
    public static let tfhdFlags: UInt32 = 0x02_0000
    /// `trun` flags: data-offset, sample duration, size, flags present (+ composition offsets: 0x800).
    public static let trunFlags: UInt32 = 0x000701
    public static let trunFlagsWithCompositionOffsets: UInt32 = 0x000F01

    /// The fragment's bytes. Sample sizes must fit in 32 bits (the segmenter drops larger ones).
    public static func fragment(
        sequenceNumber: UInt32, baseMediaDecodeTime: UInt64, samples: some RandomAccessCollection<CMAFSample>
    ) -> [UInt8] {
        let hasOffsets = samples.contains { $0.compositionOffset != 0 }
        let perSample = hasOffsets ? 16 : 12
        var payload = 0
        for sample in samples { payload += sample.data.count }
        let trunSize = 12 + 4 + 4 + samples.count * perSample
        let trafSize = 8 + 16 + 20 + trunSize
        let moofSize = 8 + 16 + trafSize
        let mdatHeader = payload + 8 <= Int(UInt32.max) ? 8 : 16

        // Every size is known here, so headers are written directly: the buffer is the only allocation.
        var w = BoxWriter(capacity: moofSize + mdatHeader + payload)
        w.header("moof", size: moofSize)
        w.fullHeader("mfhd", size: 16, version: 0, flags: 0)
        w.u32(sequenceNumber)
        w.header("traf", size: trafSize)
        w.fullHeader("tfhd", size: 16, version: 0, flags: tfhdFlags)
        w.u32(CMAFInitSegment.trackID)
        w.fullHeader("tfdt", size: 20, version: 1, flags: 0)
        w.u64(baseMediaDecodeTime)
        w.fullHeader("trun", size: trunSize, version: hasOffsets ? 1 : 0, flags: hasOffsets ? trunFlagsWithCompositionOffsets : trunFlags)
        w.u32(UInt32(truncatingIfNeeded: samples.count))
        w.i32(Int32(truncatingIfNeeded: moofSize + mdatHeader))  // data_offset: first payload byte
        for sample in samples {
            w.u32(sample.duration)
            w.u32(UInt32(clamping: sample.data.count))
            w.u32(sample.flags)
            if hasOffsets { w.i32(sample.compositionOffset) }
        }
        assert(w.count == moofSize)
        if mdatHeader == 8 {
            w.u32(UInt32(payload + 8))
            w.fourCC("mdat")
        } else {
            w.u32(1)
            w.fourCC("mdat")
            w.u64(UInt64(payload) + 16)
        }
        for sample in samples { w.append(sample.data) }
        return w.finish()
    }
}
