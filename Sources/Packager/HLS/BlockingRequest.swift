/// A blocking playlist reload: `_HLS_msn=M` waits for segment M to be complete,
/// `_HLS_msn=M&_HLS_part=N` for part N of segment M (or anything later), RFC 8216bis §6.2.5.2.
public struct BlockingRequest: Sendable, Hashable {
    public let msn: Int
    public let part: Int?

    public init(msn: Int, part: Int? = nil) throws(BlockingRequestError) {
        guard msn >= 0 else { throw .negative(parameter: "_HLS_msn", value: String(msn)) }
        if let part, part < 0 { throw .negative(parameter: "_HLS_part", value: String(part)) }
        self.msn = msn
        self.part = part
    }

    /// RFC 8216bis §6.2.5.2: three divided by the part target when that is under a second, else
    /// three; a request may ask for at most that many parts past the last one.
    public static func advancePartLimit(partTarget: Double) -> Double {
        partTarget < 1 ? 3 / partTarget : 3
    }

    /// Decides against the playlist as it is now.
    ///
    /// - EXT-X-ENDLIST: ready, whatever was asked (§6.2.5.2 says to ignore the directives).
    /// - `_HLS_msn` more than two past the last msn (LAST-MSN, which counts the segment in
    ///   progress, the same figure rendition reports give clients to build requests from): 400.
    /// - msn only: ready once segment msn is complete (or trimmed: a later one exists).
    /// - msn and part: a part index at or past the part count of a completed segment means part 0
    ///   of the next segment (§6.2.5.2); ready once that part, or a later one, exists; 400 when it
    ///   is more than the Advance Part Limit past the last part. Past the segment in progress the
    ///   distance is counted at its least (one part per segment not yet started), so a request is
    ///   refused only when it is certainly too far.
    public func decide(against state: MediaPlaylistState) -> BlockingDecision {
        if state.isEnded { return .ready }
        let lastMSN = state.lastMSN ?? (state.nextMSN - 1)
        if msn - 2 > lastMSN {
            return .badRequest(
                "_HLS_msn=\(msn) is more than two segments past the newest one (\(lastMSN)); ask for _HLS_msn=\(lastMSN + 1) or lower")
        }
        guard let part else {
            if let complete = state.lastCompleteMSN, msn <= complete { return .ready }
            return .wait
        }
        let target = Self.normalized(msn: msn, part: part, in: state)
        if Self.exists(msn: target.msn, part: target.part, in: state) { return .ready }
        let ahead = Self.partsAhead(msn: target.msn, part: target.part, in: state)
        let limit = Self.advancePartLimit(partTarget: state.configuration.partTarget)
        if Double(ahead) > limit + 1e-6 {
            let last = state.lastPosition.map { "part \($0.part ?? -1) of segment \($0.msn)" } ?? "nothing yet"
            return .badRequest(
                "_HLS_msn=\(msn)&_HLS_part=\(part) is \(ahead) parts past the newest part (\(last)); at most \(Int(limit.rounded(.down))) are allowed, so ask for the next part"
            )
        }
        return .wait
    }

    /// Part `part` of a completed segment that has fewer parts is part 0 of the following segment.
    static func normalized(msn: Int, part: Int, in state: MediaPlaylistState) -> (msn: Int, part: Int) {
        var target = (msn: msn, part: part)
        while target.msn < state.nextMSN, let segment = state.segment(msn: target.msn), target.part >= segment.partCount {
            target = (target.msn + 1, 0)
        }
        return target
    }

    /// Whether the playlist has reached part `part` of `msn`: a complete segment at or past it
    /// (trimmed ones included), or enough parts of the segment in progress.
    static func exists(msn: Int, part: Int, in state: MediaPlaylistState) -> Bool {
        if msn < state.nextMSN { return true }
        guard msn == state.nextMSN, let inProgress = state.inProgress else { return false }
        return part < inProgress.parts.count
    }

    /// The least number of parts still to come until part `part` of `msn` exists, counting the
    /// newest part as 0 (so the next part is 1). Only for positions not reached yet.
    static func partsAhead(msn: Int, part: Int, in state: MediaPlaylistState) -> Int {
        let next = state.nextPart
        let toTarget = part.addingReportingOverflow(1)
        guard !toTarget.overflow else { return Int.max }
        if msn <= next.msn { return max(1, toTarget.partialValue - next.index) }
        // Each segment not yet started brings at least one part; the one in progress may be done.
        let untouched = (msn - next.msn - 1) + (next.index == 0 ? 1 : 0)
        let total = toTarget.partialValue.addingReportingOverflow(untouched)
        return total.overflow ? Int.max : total.partialValue
    }
}

/// A request for a part's bytes (`s12.p3.m4s`), typically the one `EXT-X-PRELOAD-HINT` announced:
/// it blocks until the part exists (RFC 8216bis §6.2.6).
public struct PartRequest: Sendable, Hashable {
    public let msn: Int
    public let index: Int

    public init(msn: Int, index: Int) throws(BlockingRequestError) {
        guard msn >= 0 else { throw .negative(parameter: "msn", value: String(msn)) }
        guard index >= 0 else { throw .negative(parameter: "part", value: String(index)) }
        self.msn = msn
        self.index = index
    }

    /// Ready when the part exists; not found when it never will (its segment closed with fewer
    /// parts, left the window, or the stream ended) or when it is further ahead than a hint could
    /// have announced (more than two segments, or the Advance Part Limit, past the newest part).
    /// Unlike a playlist request, a part index past a closed segment's end is not moved on to the
    /// next segment: a part URL names one resource.
    public func decide(against state: MediaPlaylistState) -> BlockingDecision {
        if state.contains(msn: msn, part: index) { return .ready }
        let name = HLSResource.part(msn: msn, index: index).name
        if msn < state.mediaSequence {
            return .notFound("\(name) has left the DVR window; reload the playlist")
        }
        if msn < state.nextMSN {
            let count = state.segment(msn: msn)?.partCount ?? 0
            return .notFound("segment \(msn) closed with \(count) parts, so \(name) does not exist; reload the playlist")
        }
        if state.isEnded { return .notFound("the stream ended before \(name) was made") }
        let lastMSN = state.lastMSN ?? (state.nextMSN - 1)
        let ahead = BlockingRequest.partsAhead(msn: msn, part: index, in: state)
        let limit = BlockingRequest.advancePartLimit(partTarget: state.configuration.partTarget)
        if msn - 2 > lastMSN || Double(ahead) > limit + 1e-6 {
            return .notFound("\(name) is further ahead than the playlist hints; ask for the part in EXT-X-PRELOAD-HINT")
        }
        return .wait
    }
}
