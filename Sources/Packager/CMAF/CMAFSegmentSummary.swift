/// A finished segment: the concatenation of its parts, in order.
public struct CMAFSegmentSummary: Sendable, Hashable {
    public var sequence: Int
    public var timescale: UInt32
    public var startTicks: Int64
    public var startTime: Double
    public var durationTicks: Int64
    public var duration: Double
    public var partCount: Int
    /// Bytes of all its parts (`moof` + `mdat` each): the segment resource's length.
    public var byteCount: Int
    /// The first segment after a discontinuity (`EXT-X-DISCONTINUITY` goes before it).
    public var discontinuity: Bool
    /// Media payload bits over the segment's duration.
    public var averageBitrate: Int
    /// The highest bitrate of any of its parts (payload bits over the part's duration).
    public var peakBitrate: Int

    /// The segment resource's bits (boxes included) over its duration: what HLS `BANDWIDTH`
    /// (the peak over segments) and `AVERAGE-BANDWIDTH` are made of.
    public var bitrate: Int {
        duration > 0 ? Int((Double(byteCount) * 8 / duration).rounded()) : 0
    }
}
