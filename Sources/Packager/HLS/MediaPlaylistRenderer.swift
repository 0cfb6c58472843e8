import Foundation

/// Renders media playlists from a `MediaPlaylistState`: pure functions, the same state gives the
/// same bytes.
///
/// `EXT-X-VERSION`: live playlists declare 9 whether or not this response skips anything. EXT-X-SKIP
/// needs 9 (RFC 8216bis §8); the playlist advertises `CAN-SKIP-UNTIL`, so any reload of the same
/// URI may be a delta update. The LL-HLS tags themselves need no version and EXT-X-MAP needs 6,
/// so the VOD playlist of a recording declares 6. A delta answering `_HLS_skip=v2` carries
/// `RECENTLY-REMOVED-DATERANGES`, an attribute of protocol version 10, so it declares 10 (the
/// version is the response's, as in Apple's own LL-HLS examples, where full and delta differ).
public enum MediaPlaylistRenderer {
    public static let liveVersion = 9
    public static let dateRangeDeltaVersion = 10
    public static let vodVersion = 6

    /// `_HLS_skip` of a playlist request.
    public enum Skip: Sendable, Hashable {
        /// `_HLS_skip=YES`: skip old segments.
        case yes
        /// `_HLS_skip=v2`: skip old segments and date ranges (`RECENTLY-REMOVED-DATERANGES`).
        case v2
    }

    /// The live media playlist, or its delta update when `skip` is set. A delta skips the complete
    /// segments that end at least `CAN-SKIP-UNTIL` seconds before the end of the newest complete
    /// segment (RFC 8216bis §6.2.5.1), replacing them and their tags with one EXT-X-SKIP; when
    /// none qualifies, or the playlist has ended, the full playlist is the answer (§6.2.5.1 says
    /// to ignore `_HLS_skip` after EXT-X-ENDLIST). `renditionReports` should hold every other
    /// rendition; one naming this rendition is left out.
    public static func live(
        _ state: MediaPlaylistState,
        renditionReports: [RenditionReport] = [],
        skip: Skip? = nil
    ) -> String {
        let configuration = state.configuration
        let skipped = skip == nil ? 0 : skippableSegmentCount(state)
        var out = PlaylistText()
        out.line("#EXTM3U")
        out.line("#EXT-X-VERSION:\(skipped > 0 && skip == .v2 ? dateRangeDeltaVersion : liveVersion)")
        out.line("#EXT-X-TARGETDURATION:\(configuration.targetDuration)")
        out.line(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=\(HLSFormat.decimal(configuration.partHoldBack)),CAN-SKIP-UNTIL=\(HLSFormat.decimal(configuration.canSkipUntil))"
        )
        out.line("#EXT-X-PART-INF:PART-TARGET=\(HLSFormat.decimal(configuration.partTarget))")
        out.line("#EXT-X-MEDIA-SEQUENCE:\(state.mediaSequence)")
        out.line("#EXT-X-DISCONTINUITY-SEQUENCE:\(state.discontinuitySequence)")
        // The map applies to every segment after it, skipped or not, so a delta keeps it.
        out.line("#EXT-X-MAP:URI=\"\(HLSResource.initialization.name)\"")
        if skipped > 0 {
            out.line(
                skip == .v2
                    ? "#EXT-X-SKIP:SKIPPED-SEGMENTS=\(skipped),RECENTLY-REMOVED-DATERANGES=\"\""
                    : "#EXT-X-SKIP:SKIPPED-SEGMENTS=\(skipped)")
        }
        let segments = state.segments
        let partsFrom = segments.count - MediaPlaylistConfiguration.segmentsWithParts
        for (offset, segment) in segments.enumerated() where offset >= skipped {
            if segment.discontinuity { out.line("#EXT-X-DISCONTINUITY") }
            if offset == 0 || segment.discontinuity {
                out.line("#EXT-X-PROGRAM-DATE-TIME:\(HLSFormat.dateTime(segment.programDateTime))")
            }
            if offset >= partsFrom {
                for part in segment.parts { out.part(part, msn: segment.msn) }
            }
            out.segment(segment)
        }
        if let inProgress = state.inProgress {
            if inProgress.discontinuity { out.line("#EXT-X-DISCONTINUITY") }
            if segments.isEmpty || inProgress.discontinuity, let date = inProgress.programDateTime {
                out.line("#EXT-X-PROGRAM-DATE-TIME:\(HLSFormat.dateTime(date))")
            }
            for part in inProgress.parts { out.part(part, msn: inProgress.msn) }
        }
        if !state.isEnded {
            let next = state.nextPart
            out.line("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"\(HLSResource.part(msn: next.msn, index: next.index).name)\"")
        }
        for report in renditionReports where report.rendition != configuration.rendition {
            var line = "#EXT-X-RENDITION-REPORT:URI=\"../\(report.rendition)/\(HLSResource.playlist.name)\",LAST-MSN=\(report.lastMSN)"
            if let lastPart = report.lastPart { line += ",LAST-PART=\(lastPart)" }
            out.line(line)
        }
        if state.isEnded { out.line("#EXT-X-ENDLIST") }
        return out.text
    }

    /// How many of the oldest complete segments a delta update would replace with EXT-X-SKIP:
    /// those ending at least `CAN-SKIP-UNTIL` seconds before the end of the newest complete one.
    /// Zero once the playlist has ended.
    public static func skippableSegmentCount(_ state: MediaPlaylistState) -> Int {
        guard !state.isEnded else { return 0 }
        let boundary = state.configuration.canSkipUntil
        var after = state.duration
        var count = 0
        for segment in state.segments {
            after -= segment.duration
            guard after >= boundary - 1e-6 else { break }
            count += 1
        }
        return count
    }

    /// The VOD playlist of a finished recording: every segment in `state`, no parts, no server
    /// control, EXT-X-ENDLIST. Keep the recording's state with `dvrWindow: nil` to have them all.
    public static func vod(_ state: MediaPlaylistState) -> String {
        vod(configuration: state.configuration, segments: state.segments, discontinuitySequence: state.discontinuitySequence)
    }

    /// The VOD playlist of segments kept elsewhere (the recording's index), oldest first and
    /// numbered contiguously.
    public static func vod(
        configuration: MediaPlaylistConfiguration,
        segments: some Collection<MediaPlaylistState.Segment>,
        discontinuitySequence: Int = 0
    ) -> String {
        var out = PlaylistText()
        out.line("#EXTM3U")
        out.line("#EXT-X-VERSION:\(vodVersion)")
        out.line("#EXT-X-TARGETDURATION:\(configuration.targetDuration)")
        out.line("#EXT-X-PLAYLIST-TYPE:VOD")
        out.line("#EXT-X-MEDIA-SEQUENCE:\(segments.first?.msn ?? configuration.firstMediaSequence)")
        out.line("#EXT-X-DISCONTINUITY-SEQUENCE:\(discontinuitySequence)")
        out.line("#EXT-X-MAP:URI=\"\(HLSResource.initialization.name)\"")
        for (offset, segment) in segments.enumerated() {
            if segment.discontinuity { out.line("#EXT-X-DISCONTINUITY") }
            if offset == 0 || segment.discontinuity {
                out.line("#EXT-X-PROGRAM-DATE-TIME:\(HLSFormat.dateTime(segment.programDateTime))")
            }
            out.segment(segment)
        }
        out.line("#EXT-X-ENDLIST")
        return out.text
    }
}

/// Lines of a playlist, each ended by a line feed.
struct PlaylistText {
    private(set) var text = ""

    init() { text.reserveCapacity(4096) }

    mutating func line(_ line: String) {
        text += line
        text += "\n"
    }

    mutating func part(_ part: MediaPlaylistState.Part, msn: Int) {
        var tag = "#EXT-X-PART:DURATION=\(HLSFormat.decimal(part.duration)),URI=\"\(HLSResource.part(msn: msn, index: part.index).name)\""
        if part.independent { tag += ",INDEPENDENT=YES" }
        line(tag)
    }

    mutating func segment(_ segment: MediaPlaylistState.Segment) {
        line("#EXTINF:\(HLSFormat.fixed(segment.duration, decimals: 5)),")
        line(HLSResource.segment(msn: segment.msn).name)
    }
}
