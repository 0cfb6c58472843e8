/// One sample of a fragment: an access unit with its timing in the track's timescale.
public struct CMAFSample: Sendable {
    /// Ticks until the next sample's decode time.
    public var duration: UInt32
    /// Presentation time − decode time, in ticks (negative is allowed: `trun` version 1).
    public var compositionOffset: Int32
    public var isSync: Bool
    /// The payload (AVCC NAL units or a raw AAC frame), shared with the packet it came from.
    public var data: [UInt8]

    public init(duration: UInt32, compositionOffset: Int32 = 0, isSync: Bool, data: [UInt8]) {
        self.duration = duration
        self.compositionOffset = compositionOffset
        self.isSync = isSync
        self.data = data
    }

    /// ISO/IEC 14496-12 §8.8.3.1 sample flags: a sync sample depends on no other
    /// (sample_depends_on = 2); any other depends on others (1) and is a non-sync sample.
    public var flags: UInt32 { isSync ? Self.syncFlags : Self.nonSyncFlags }

    public static let syncFlags: UInt32 = 0x0200_0000
    public static let nonSyncFlags: UInt32 = 0x0101_0000
}
