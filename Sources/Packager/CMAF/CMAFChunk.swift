/// One finished LL-HLS part: a single `moof`+`mdat` of one segment.
public struct CMAFChunk: Sendable {
    public var bytes: [UInt8]
    /// The segment's media sequence number (0 for the first segment, +1 per segment).
    public var segmentSequence: Int
    /// The part's index within its segment, from 0.
    public var partIndex: Int
    /// The `mfhd` sequence number, from 1, +1 per part over the whole output.
    public var fragmentSequence: UInt32
    public var timescale: UInt32
    /// Decode time of the first sample, in ticks of `timescale` and in seconds.
    public var startTicks: Int64
    public var startTime: Double
    /// Sum of the sample durations, in ticks and in seconds.
    public var durationTicks: Int64
    public var duration: Double
    /// The first sample is a sync sample (`INDEPENDENT=YES`).
    public var independent: Bool
    public var sampleCount: Int
    public var isFirstPartOfSegment: Bool { partIndex == 0 }
}
