/// What `CMAFSegmenter` hands to the origin store and the playlist, in order.
public enum SegmenterOutput: Sendable {
    case part(CMAFChunk)
    /// Follows the segment's last `.part`.
    case segmentEnd(CMAFSegmentSummary)
}
