import Foundation

/// One rendition's live LL-HLS playlist as a value: parts and segments go in, in order; trimmed
/// segments come out for the store to delete; the renderers and the blocking-reload rules read it.
/// No I/O and no clock: dates arrive with the inputs.
///
/// Lifecycle of a segment: its parts arrive one by one (`partReady`, index 0, 1, ...) while it is
/// in progress; `segmentReady` completes it (a segment may also arrive without parts); trimming
/// then keeps the newest complete segments that still cover the DVR window.
public struct MediaPlaylistState: Sendable, Hashable {
    public struct PartInput: Sendable, Hashable {
        public var msn: Int
        public var index: Int
        public var duration: Double
        /// The part starts with a keyframe (`INDEPENDENT=YES`).
        public var independent: Bool
        /// Date of the part's first sample. Only read on part 0, where it fixes the date of a
        /// segment shown while still in progress (after a discontinuity, or at stream start).
        public var programDateTime: Date?

        public init(msn: Int, index: Int, duration: Double, independent: Bool, programDateTime: Date? = nil) {
            self.msn = msn
            self.index = index
            self.duration = duration
            self.independent = independent
            self.programDateTime = programDateTime
        }
    }

    public struct SegmentInput: Sendable, Hashable {
        public var msn: Int
        public var duration: Double
        /// Date of the segment's first sample; nil continues from the previous segment (or the
        /// stream start). Ignored when part 0 already fixed the date.
        public var programDateTime: Date?
        /// The segment follows a discontinuity (same effect as `discontinuity()` before its first part).
        public var discontinuity: Bool
        public var byteSize: Int

        public init(msn: Int, duration: Double, programDateTime: Date? = nil, discontinuity: Bool = false, byteSize: Int) {
            self.msn = msn
            self.duration = duration
            self.programDateTime = programDateTime
            self.discontinuity = discontinuity
            self.byteSize = byteSize
        }
    }

    public struct Part: Sendable, Hashable {
        public var index: Int
        public var duration: Double
        public var independent: Bool
    }

    public struct Segment: Sendable, Hashable {
        public var msn: Int
        public var duration: Double
        public var programDateTime: Date
        public var discontinuity: Bool
        public var byteSize: Int
        /// How many parts the segment was made of (kept after `parts` is dropped).
        public var partCount: Int
        /// The parts, while the segment is among the newest `segmentsWithParts`; empty after.
        public var parts: [Part]
    }

    public struct InProgressSegment: Sendable, Hashable {
        public var msn: Int
        public var parts: [Part]
        public var discontinuity: Bool
        /// Known when part 0 brought it or the segment continues the timeline; nil after a
        /// discontinuity whose date only the completed segment will tell.
        public var programDateTime: Date?
    }

    public private(set) var configuration: MediaPlaylistConfiguration
    /// Complete segments in the window, oldest first, numbered contiguously.
    public private(set) var segments: [Segment] = []
    public private(set) var inProgress: InProgressSegment?
    /// The msn of the segment being built, or of the next one to start.
    public private(set) var nextMSN: Int
    /// `EXT-X-DISCONTINUITY-SEQUENCE`: discontinuity tags trimmed so far.
    public private(set) var discontinuitySequence = 0
    /// `EXT-X-ENDLIST` is present; nothing more is accepted.
    public private(set) var isEnded = false
    private var pendingDiscontinuity = false
    /// Date of the next segment's start, when it continues the timeline.
    private var nextProgramDateTime: Date

    public init(configuration: MediaPlaylistConfiguration) {
        self.configuration = configuration
        nextMSN = configuration.firstMediaSequence
        nextProgramDateTime = configuration.streamStart
    }

    // MARK: Inputs

    /// Declares a longer `PART-TARGET` than configured: the segmenter's advertised target, since
    /// parts of whole frames with millisecond timestamps can pass the nominal one by a millisecond,
    /// and no part may exceed the declared target. Only before the first part (the tag must not
    /// change while the playlist lives); a shorter or invalid value changes nothing.
    public mutating func declarePartTarget(_ seconds: Double) {
        guard lastPosition == nil, seconds > configuration.partTarget,
            let longer = try? configuration.withPartTarget(seconds)
        else { return }
        configuration = longer
    }

    /// Adds the next part of the segment in progress (starting it at index 0).
    public mutating func partReady(_ input: PartInput) throws(HLSPlaylistError) {
        let rendition = configuration.rendition
        guard !isEnded else { throw .ended(rendition: rendition) }
        let next = nextPart
        guard input.msn == next.msn, input.index == next.index else {
            throw .unexpectedPart(
                rendition: rendition, expectedMSN: next.msn, expectedIndex: next.index, gotMSN: input.msn, gotIndex: input.index)
        }
        guard input.duration.isFinite, input.duration > 0, input.duration <= Double(configuration.targetDuration) else {
            throw .invalidDuration(rendition: rendition, what: "part \(input.index) of segment \(input.msn)", seconds: input.duration)
        }
        var segment =
            inProgress
            ?? InProgressSegment(
                msn: nextMSN,
                parts: [],
                discontinuity: pendingDiscontinuity,
                programDateTime: input.programDateTime ?? (pendingDiscontinuity ? nil : nextProgramDateTime)
            )
        segment.parts.append(Part(index: input.index, duration: input.duration, independent: input.independent))
        inProgress = segment
        pendingDiscontinuity = false
    }

    /// Completes the segment in progress (or a segment that came without parts), then trims the
    /// window. Returns the segments trimmed, oldest first: the store deletes their files, after the
    /// grace RFC 8216bis §6.2.2 asks for (the segment's duration plus the playlist's).
    ///
    /// `enforcingTargetDuration: false` takes a segment longer than `EXT-X-TARGETDURATION` anyway:
    /// its parts are listed already, and refusing it would stop the playlist for good, since every
    /// later part and segment comes after it. One over-long segment is the lesser fault.
    @discardableResult
    public mutating func segmentReady(
        _ input: SegmentInput, enforcingTargetDuration: Bool = true
    ) throws(HLSPlaylistError) -> [Segment] {
        let rendition = configuration.rendition
        guard !isEnded else { throw .ended(rendition: rendition) }
        guard input.msn == nextMSN else { throw .unexpectedSegment(rendition: rendition, expected: nextMSN, got: input.msn) }
        guard input.duration.isFinite, input.duration > 0 else {
            throw .invalidDuration(rendition: rendition, what: "segment \(input.msn)", seconds: input.duration)
        }
        guard input.duration.rounded() <= Double(configuration.targetDuration) || !enforcingTargetDuration else {
            throw .segmentTooLong(
                rendition: rendition, msn: input.msn, seconds: input.duration, targetDuration: configuration.targetDuration)
        }
        guard input.byteSize >= 0 else { throw .invalidByteSize(rendition: rendition, msn: input.msn, byteSize: input.byteSize) }
        guard nextMSN < Int.max else { throw .unexpectedSegment(rendition: rendition, expected: nextMSN, got: input.msn) }

        let parts = inProgress?.parts ?? []
        let announced = inProgress?.discontinuity ?? pendingDiscontinuity
        if input.discontinuity, !announced, !parts.isEmpty {
            throw .lateDiscontinuity(rendition: rendition, msn: input.msn)
        }
        let date = input.programDateTime ?? inProgress?.programDateTime ?? nextProgramDateTime
        segments.append(
            Segment(
                msn: input.msn,
                duration: input.duration,
                programDateTime: date,
                discontinuity: announced || input.discontinuity,
                byteSize: input.byteSize,
                partCount: parts.count,
                parts: parts
            ))
        let stale = segments.count - 1 - MediaPlaylistConfiguration.segmentsWithParts
        if stale >= 0, stale < segments.count { segments[stale].parts = [] }
        inProgress = nil
        pendingDiscontinuity = false
        nextMSN += 1
        nextProgramDateTime = date.addingTimeInterval(input.duration)
        return trim()
    }

    /// The next segment to start follows a discontinuity (new encoder, new timestamps). A segment
    /// already in progress is not affected: the cutter closes it first.
    public mutating func discontinuity() throws(HLSPlaylistError) {
        guard !isEnded else { throw .ended(rendition: configuration.rendition) }
        pendingDiscontinuity = true
    }

    /// Adds `EXT-X-ENDLIST`. Parts of a segment that never completed are dropped from the playlist
    /// (a final playlist lists whole segments); that segment is returned so its file can go.
    @discardableResult
    public mutating func end() -> InProgressSegment? {
        let unfinished = inProgress
        inProgress = nil
        isEnded = true
        return unfinished
    }

    private mutating func trim() -> [Segment] {
        guard let window = configuration.effectiveDVRWindow else { return [] }
        var total = segments.reduce(0) { $0 + $1.duration }
        var dropped = 0
        // Tolerate float noise so a window of exactly N segments keeps exactly N.
        while dropped < segments.count - 1, total - segments[dropped].duration >= window - 1e-9 {
            total -= segments[dropped].duration
            if segments[dropped].discontinuity { discontinuitySequence += 1 }
            dropped += 1
        }
        guard dropped > 0 else { return [] }
        let removed = Array(segments.prefix(dropped))
        segments.removeFirst(dropped)
        return removed
    }

    // MARK: Queries

    /// `EXT-X-MEDIA-SEQUENCE`: the msn of the first segment listed.
    public var mediaSequence: Int { segments.first?.msn ?? nextMSN }

    /// The newest complete segment's msn.
    public var lastCompleteMSN: Int? { segments.last?.msn }

    /// The msn and part index of the newest part (in progress or of the newest complete segment),
    /// as `EXT-X-RENDITION-REPORT` gives them; part is nil for a segment made without parts.
    public var lastPosition: (msn: Int, part: Int?)? {
        if let inProgress, !inProgress.parts.isEmpty { return (inProgress.msn, inProgress.parts.count - 1) }
        guard let last = segments.last else { return nil }
        return (last.msn, last.partCount > 0 ? last.partCount - 1 : nil)
    }

    public var lastMSN: Int? { lastPosition?.msn }
    public var lastPart: Int? { lastPosition?.part }

    /// The part `EXT-X-PRELOAD-HINT` announces: the next in the segment in progress, or part 0 of
    /// the next segment.
    public var nextPart: (msn: Int, index: Int) {
        if let inProgress { return (inProgress.msn, inProgress.parts.count) }
        return (nextMSN, 0)
    }

    /// The complete segment `msn`, if it is still in the window.
    public func segment(msn: Int) -> Segment? {
        guard let first = segments.first?.msn, msn >= first else { return nil }
        let offset = msn - first
        return offset < segments.count ? segments[offset] : nil
    }

    /// Whether the complete segment `msn` is listed.
    public func contains(msn: Int) -> Bool { segment(msn: msn) != nil }

    /// Whether part `part` of segment `msn` exists and its segment is still in the window (its
    /// bytes can be served, listed in the playlist or not).
    public func contains(msn: Int, part: Int) -> Bool {
        guard part >= 0 else { return false }
        if let inProgress, inProgress.msn == msn { return part < inProgress.parts.count }
        guard let segment = segment(msn: msn) else { return false }
        return part < segment.partCount
    }

    /// Seconds of complete segments in the window.
    public var duration: Double { segments.reduce(0) { $0 + $1.duration } }

    /// This rendition as other renditions' playlists report it.
    public var renditionReport: RenditionReport {
        RenditionReport(rendition: configuration.rendition, lastMSN: lastMSN ?? max(nextMSN - 1, 0), lastPart: lastPart)
    }
}
