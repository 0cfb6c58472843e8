import Foundation

/// What one rendition's LL-HLS media playlist promises players. Fixed for the life of a stream:
/// RFC 8216bis §6.2.1 forbids changing the target duration, and §6.2.4 wants the same server
/// control in every rendition of a multivariant playlist.
public struct MediaPlaylistConfiguration: Sendable, Hashable {
    /// The rendition's folder under `/live/CHANNEL/` (`720p`, `audio`).
    public let rendition: String
    /// `EXT-X-TARGETDURATION`, whole seconds; every segment rounds to at most this.
    public let targetDuration: Int
    /// `EXT-X-PART-INF:PART-TARGET`, seconds.
    public let partTarget: Double
    /// Seconds of complete segments kept for DVR; nil keeps every segment (a recording).
    public let dvrWindow: Double?
    /// `EXT-X-PROGRAM-DATE-TIME` of the first segment, used when a segment brings no date of its own.
    public let streamStart: Date
    /// Media sequence number of the stream's first segment.
    public let firstMediaSequence: Int
    /// `PART-HOLD-BACK`, seconds: at least three part targets (RFC 8216bis §4.4.3.8 SHOULD).
    public let partHoldBack: Double

    /// Complete segments whose parts are still listed, besides the segment in progress. Three 2 s
    /// segments keep parts within the three target durations RFC 8216bis §6.2.2 asks for.
    public static let segmentsWithParts = 3

    /// `CAN-SKIP-UNTIL`: six target durations, the least RFC 8216bis §4.4.3.8 allows.
    public var canSkipUntil: Double { Double(targetDuration) * 6 }

    /// The window trimming uses: never below three target durations, because RFC 8216bis §6.2.2
    /// forbids removing a segment when that leaves a live playlist shorter than that.
    public var effectiveDVRWindow: Double? {
        dvrWindow.map { max($0, Double(targetDuration) * 3) }
    }

    /// How long a blocked playlist or part request waits before the gateway answers 503
    /// (RFC 8216bis §6.2.5.2: three target durations).
    public var blockingTimeout: Duration { .seconds(targetDuration * 3) }

    public init(
        rendition: String,
        targetDuration: Int,
        partTarget: Double,
        dvrWindow: Double?,
        streamStart: Date,
        firstMediaSequence: Int = 0,
        partHoldBack: Double? = nil
    ) throws(HLSPlaylistError) {
        try HLSPlaylistError.checkRenditionName(rendition)
        guard (1...3600).contains(targetDuration) else {
            throw .invalidConfiguration("target duration \(targetDuration) s must be between 1 and 3600 seconds")
        }
        guard partTarget.isFinite, partTarget >= 0.05, partTarget <= Double(targetDuration) else {
            throw .invalidConfiguration("part target \(partTarget) s must be between 0.05 s and the target duration (\(targetDuration) s)")
        }
        if let dvrWindow {
            guard dvrWindow.isFinite, dvrWindow >= 0 else {
                throw .invalidConfiguration("DVR window \(dvrWindow) s must be a finite number of seconds, or nil to keep everything")
            }
        }
        guard firstMediaSequence >= 0, firstMediaSequence <= 1 << 53 else {
            throw .invalidConfiguration("first media sequence number \(firstMediaSequence) must be between 0 and 2^53")
        }
        if let partHoldBack, !partHoldBack.isFinite || partHoldBack < 0 || partHoldBack > Double(targetDuration) * 10 {
            throw .invalidConfiguration("part hold back \(partHoldBack) s must be finite and at most ten target durations")
        }
        self.rendition = rendition
        self.targetDuration = targetDuration
        self.partTarget = partTarget
        self.dvrWindow = dvrWindow
        self.streamStart = streamStart
        self.firstMediaSequence = firstMediaSequence
        self.partHoldBack = max(partHoldBack ?? 0, partTarget * 3)
    }
}
