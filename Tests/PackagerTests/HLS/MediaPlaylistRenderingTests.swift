import Foundation
import Testing

@testable import Packager

@Suite("LL-HLS media playlist rendering")
struct MediaPlaylistRenderingTests {
    private static let header = [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        "#EXT-X-TARGETDURATION:4",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.00002,CAN-SKIP-UNTIL=24.0",
        "#EXT-X-PART-INF:PART-TARGET=0.33334",
        "#EXT-X-MEDIA-SEQUENCE:264",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        "#EXT-X-MAP:URI=\"init.mp4\"",
    ]

    private static func parts(_ msn: Int, count: Int) -> [String] {
        (0..<count).map { index in
            "#EXT-X-PART:DURATION=0.33334,URI=\"s\(msn).p\(index).m4s\"" + (index % 4 == 0 ? ",INDEPENDENT=YES" : "")
        }
    }

    private static func segment(_ msn: Int) -> [String] { ["#EXTINF:4.00008,", "s\(msn).m4s"] }

    private static let reports = [
        RenditionReport(rendition: "480p", lastMSN: 273, lastPart: 2),
        RenditionReport(rendition: "720p", lastMSN: 273, lastPart: 2),
        RenditionReport(rendition: "1080p", lastMSN: 273, lastPart: 1),
    ]

    private static let tail = [
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s273.p3.m4s\"",
        "#EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8\",LAST-MSN=273,LAST-PART=2",
        "#EXT-X-RENDITION-REPORT:URI=\"../1080p/index.m3u8\",LAST-MSN=273,LAST-PART=1",
    ]

    private static func lines(_ text: String) -> [String] {
        #expect(text.hasSuffix("\n"))
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test("live playlist in the shape of RFC 8216bis's low-latency example, line by line")
    func liveExample() throws {
        let state = try HLSFixtures.rfcExample()
        var expected = Self.header
        expected.append("#EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:28.106Z")
        for msn in 264...269 { expected += Self.segment(msn) }
        // Parts only for the newest three complete segments and the one in progress.
        for msn in 270...272 { expected += Self.parts(msn, count: 12) + Self.segment(msn) }
        expected += Self.parts(273, count: 3)
        expected += Self.tail
        let rendered = Self.lines(MediaPlaylistRenderer.live(state, renditionReports: Self.reports))
        #expect(rendered.count == expected.count)
        for (index, (got, want)) in zip(rendered, expected).enumerated() {
            #expect(got == want, "line \(index + 1)")
        }
        #expect(state.renditionReport == RenditionReport(rendition: "720p", lastMSN: 273, lastPart: 2))
    }

    @Test("delta update skips what ends CAN-SKIP-UNTIL before the newest segment's end, as in Apple's example")
    func deltaUpdate() throws {
        let state = try HLSFixtures.rfcExample()
        #expect(MediaPlaylistRenderer.skippableSegmentCount(state) == 3)
        var expected = Self.header
        expected.append("#EXT-X-SKIP:SKIPPED-SEGMENTS=3")
        for msn in 267...269 { expected += Self.segment(msn) }
        for msn in 270...272 { expected += Self.parts(msn, count: 12) + Self.segment(msn) }
        expected += Self.parts(273, count: 3)
        expected += Self.tail
        let delta = Self.lines(MediaPlaylistRenderer.live(state, renditionReports: Self.reports, skip: .yes))
        #expect(delta == expected)

        var v2 = expected
        v2[1] = "#EXT-X-VERSION:10"
        v2[Self.header.count] = "#EXT-X-SKIP:SKIPPED-SEGMENTS=3,RECENTLY-REMOVED-DATERANGES=\"\""
        #expect(Self.lines(MediaPlaylistRenderer.live(state, renditionReports: Self.reports, skip: .v2)) == v2)
    }

    @Test("nothing old enough to skip, or an ended playlist: the delta request gets the full playlist")
    func deltaWithNothingToSkip() throws {
        var state = MediaPlaylistState(configuration: try HLSFixtures.configuration(targetDuration: 2, partTarget: 0.5))
        for _ in 0..<6 { try HLSFixtures.addSegment(&state, parts: 4, partDuration: 0.5) }
        // 12 s of segments, CAN-SKIP-UNTIL 12 s: the first ends 10 s before the edge.
        #expect(MediaPlaylistRenderer.skippableSegmentCount(state) == 0)
        #expect(MediaPlaylistRenderer.live(state, skip: .yes) == MediaPlaylistRenderer.live(state))
        try HLSFixtures.addSegment(&state, parts: 4, partDuration: 0.5)
        #expect(MediaPlaylistRenderer.skippableSegmentCount(state) == 1)
        state.end()
        #expect(MediaPlaylistRenderer.skippableSegmentCount(state) == 0)
        #expect(MediaPlaylistRenderer.live(state, skip: .v2) == MediaPlaylistRenderer.live(state))
    }

    @Test("ending drops the unfinished segment's parts, the preload hint goes, EXT-X-ENDLIST comes")
    func endedLivePlaylist() throws {
        var state = MediaPlaylistState(configuration: try HLSFixtures.configuration(targetDuration: 2, partTarget: 1))
        try HLSFixtures.addSegment(&state, parts: 2, partDuration: 1)
        try HLSFixtures.addParts(&state, count: 1, duration: 1)
        let unfinished = state.end()
        #expect(unfinished?.msn == 1)
        #expect(unfinished?.parts.count == 1)
        let text = MediaPlaylistRenderer.live(state)
        #expect(!text.contains("PRELOAD-HINT"))
        #expect(!text.contains("s1.p0"))
        #expect(text.hasSuffix("s0.m4s\n#EXT-X-ENDLIST\n"))
        #expect(throws: HLSPlaylistError.ended(rendition: "720p")) {
            try state.partReady(.init(msn: 1, index: 0, duration: 1, independent: true))
        }
    }

    @Test("VOD playlist of a recording: every segment, no parts or server control, ENDLIST")
    func vodPlaylist() throws {
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var state = MediaPlaylistState(
            configuration: try HLSFixtures.configuration(targetDuration: 2, partTarget: 0.5, dvrWindow: nil, start: start))
        for _ in 0..<40 { try HLSFixtures.addSegment(&state, parts: 4, partDuration: 0.5) }
        try HLSFixtures.addSegment(&state, parts: 3, partDuration: 0.5, discontinuity: true, date: start.addingTimeInterval(100))
        state.end()
        #expect(state.segments.count == 41, "no DVR window: nothing trimmed")
        var expected = [
            "#EXTM3U",
            "#EXT-X-VERSION:6",
            "#EXT-X-TARGETDURATION:2",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            "#EXT-X-MAP:URI=\"init.mp4\"",
            "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:20.000Z",
        ]
        for msn in 0..<40 { expected += ["#EXTINF:2.00000,", "s\(msn).m4s"] }
        expected += [
            "#EXT-X-DISCONTINUITY",
            "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:15:00.000Z",
            "#EXTINF:1.50000,",
            "s40.m4s",
            "#EXT-X-ENDLIST",
        ]
        #expect(Self.lines(MediaPlaylistRenderer.vod(state)) == expected)
    }

    @Test("discontinuity: tag and date on the segment, sequence advances when trimming removes it")
    func discontinuityAndTrimming() throws {
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        var state = MediaPlaylistState(
            configuration: try HLSFixtures.configuration(targetDuration: 2, partTarget: 1, dvrWindow: 6, start: start))
        try HLSFixtures.addSegment(&state, parts: 2, partDuration: 1)
        try HLSFixtures.addSegment(&state, parts: 2, partDuration: 1)
        // Announced before the first part: the tag precedes the parts while in progress.
        try state.discontinuity()
        try state.partReady(.init(msn: 2, index: 0, duration: 1, independent: true, programDateTime: start.addingTimeInterval(60)))
        let inProgress = MediaPlaylistRenderer.live(state)
        #expect(
            inProgress.contains(
                "s1.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:14:20.000Z\n#EXT-X-PART:DURATION=1.0,URI=\"s2.p0.m4s\",INDEPENDENT=YES\n"
            ))
        try HLSFixtures.addParts(&state, count: 1, duration: 1)
        #expect(try state.segmentReady(.init(msn: 2, duration: 2, byteSize: 10)).isEmpty)
        #expect(state.segments[2].discontinuity)
        #expect(state.segments[2].programDateTime == start.addingTimeInterval(60))

        let trimmed3 = try HLSFixtures.addSegment(&state, parts: 2, partDuration: 1)
        #expect(trimmed3.map(\.msn) == [0])
        let trimmed4 = try HLSFixtures.addSegment(&state, parts: 2, partDuration: 1)
        #expect(trimmed4.map(\.msn) == [1])
        // The discontinuous segment is first: tag, then its date, sequence still 0.
        var lines = Self.lines(MediaPlaylistRenderer.live(state))
        #expect(lines.contains("#EXT-X-MEDIA-SEQUENCE:2"))
        #expect(lines.contains("#EXT-X-DISCONTINUITY-SEQUENCE:0"))
        let map = try #require(lines.firstIndex(of: "#EXT-X-MAP:URI=\"init.mp4\""))
        #expect(Array(lines[(map + 1)...(map + 2)]) == ["#EXT-X-DISCONTINUITY", "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:14:20.000Z"])
        // The date continues from the discontinuity's.
        #expect(state.segments[1].programDateTime == start.addingTimeInterval(62))

        let trimmed5 = try HLSFixtures.addSegment(&state, parts: 2, partDuration: 1)
        #expect(trimmed5.map(\.msn) == [2])
        #expect(trimmed5.first?.discontinuity == true)
        #expect(state.discontinuitySequence == 1)
        lines = Self.lines(MediaPlaylistRenderer.live(state))
        #expect(lines.contains("#EXT-X-MEDIA-SEQUENCE:3"))
        #expect(lines.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1"))
        #expect(!lines.contains("#EXT-X-DISCONTINUITY"))
        #expect(lines[map + 1] == "#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:14:22.000Z")
    }

    @Test("DVR window: the newest segments covering it stay, older ones come back for deletion")
    func dvrWindowTrimming() throws {
        var state = MediaPlaylistState(configuration: try HLSFixtures.configuration(targetDuration: 2, partTarget: 0.5, dvrWindow: 10))
        var trimmed: [Int] = []
        for _ in 0..<20 {
            trimmed += try HLSFixtures.addSegment(&state, parts: 4, partDuration: 0.5).map(\.msn)
        }
        #expect(trimmed == Array(0..<15))
        #expect(state.segments.map(\.msn) == Array(15..<20))
        #expect(state.mediaSequence == 15)
        #expect(state.duration == 10)
        // Parts are kept for the newest three segments only; their count stays.
        #expect(state.segments.map(\.parts.count) == [0, 0, 4, 4, 4])
        #expect(state.segments.allSatisfy { $0.partCount == 4 })
        #expect(state.contains(msn: 15, part: 3))
        #expect(!state.contains(msn: 14, part: 0))

        // A window under three target durations is raised to it (RFC 8216bis §6.2.2).
        var short = MediaPlaylistState(configuration: try HLSFixtures.configuration(targetDuration: 2, partTarget: 0.5, dvrWindow: 1))
        for _ in 0..<10 { try HLSFixtures.addSegment(&short, parts: 4, partDuration: 0.5) }
        #expect(short.segments.count == 3)
    }

    @Test("out-of-order and impossible input is refused with a typed error and changes nothing")
    func inconsistentInput() throws {
        var state = try HLSFixtures.blockingState()
        let before = state
        #expect(throws: HLSPlaylistError.unexpectedPart(rendition: "720p", expectedMSN: 12, expectedIndex: 2, gotMSN: 12, gotIndex: 3)) {
            try state.partReady(.init(msn: 12, index: 3, duration: 1, independent: false))
        }
        #expect(throws: HLSPlaylistError.unexpectedPart(rendition: "720p", expectedMSN: 12, expectedIndex: 2, gotMSN: 13, gotIndex: 0)) {
            try state.partReady(.init(msn: 13, index: 0, duration: 1, independent: true))
        }
        #expect(throws: HLSPlaylistError.unexpectedSegment(rendition: "720p", expected: 12, got: 11)) {
            try state.segmentReady(.init(msn: 11, duration: 4, byteSize: 1))
        }
        #expect(throws: HLSPlaylistError.segmentTooLong(rendition: "720p", msn: 12, seconds: 4.6, targetDuration: 4)) {
            try state.segmentReady(.init(msn: 12, duration: 4.6, byteSize: 1))
        }
        do {
            // Taken anyway when told to: the playlist goes on with the next segment.
            var lenient = state
            try lenient.segmentReady(.init(msn: 12, duration: 4.6, byteSize: 1), enforcingTargetDuration: false)
            try lenient.partReady(.init(msn: 13, index: 0, duration: 1, independent: true))
            #expect(lenient.segments.last?.msn == 12 && lenient.segments.last?.duration == 4.6)
        }
        #expect(throws: HLSPlaylistError.lateDiscontinuity(rendition: "720p", msn: 12)) {
            try state.segmentReady(.init(msn: 12, duration: 4, discontinuity: true, byteSize: 1))
        }
        for bad in [Double.nan, 0, -1, .infinity] {
            #expect(throws: HLSPlaylistError.self) { try state.partReady(.init(msn: 12, index: 2, duration: bad, independent: false)) }
            #expect(throws: HLSPlaylistError.self) { try state.segmentReady(.init(msn: 12, duration: bad, byteSize: 1)) }
        }
        #expect(throws: HLSPlaylistError.self) { try state.segmentReady(.init(msn: 12, duration: 4, byteSize: -1)) }
        #expect(state == before)

        for name in ["", "../x", "a/b", "..", "720p\n", String(repeating: "a", count: 65)] {
            #expect(throws: HLSPlaylistError.self) { _ = try HLSFixtures.configuration(rendition: name) }
        }
        #expect(throws: HLSPlaylistError.self) { _ = try HLSFixtures.configuration(targetDuration: 0) }
        #expect(throws: HLSPlaylistError.self) { _ = try HLSFixtures.configuration(targetDuration: 2, partTarget: 3) }
        #expect(throws: HLSPlaylistError.self) { _ = try HLSFixtures.configuration(partTarget: .nan) }
        #expect(throws: HLSPlaylistError.self) { _ = try HLSFixtures.configuration(dvrWindow: -5) }
        #expect(throws: HLSPlaylistError.self) { _ = try HLSFixtures.configuration(firstMediaSequence: -1) }
    }

    @Test("server control figures: PART-HOLD-BACK at least three part targets, CAN-SKIP-UNTIL six target durations")
    func serverControl() throws {
        let low = try MediaPlaylistConfiguration(
            rendition: "a", targetDuration: 2, partTarget: 0.5, dvrWindow: 60, streamStart: .now, partHoldBack: 0.2)
        #expect(low.partHoldBack == 1.5)
        #expect(low.canSkipUntil == 12)
        #expect(low.blockingTimeout == .seconds(6))
        let high = try MediaPlaylistConfiguration(
            rendition: "a", targetDuration: 2, partTarget: 0.5, dvrWindow: 60, streamStart: .now, partHoldBack: 2.5)
        #expect(high.partHoldBack == 2.5)
        let text = MediaPlaylistRenderer.live(MediaPlaylistState(configuration: high))
        #expect(text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=2.5,CAN-SKIP-UNTIL=12.0\n"))
        #expect(text.contains("#EXT-X-PART-INF:PART-TARGET=0.5\n"))
        #expect(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s0.p0.m4s\"\n"))
    }

    @Test("a longer part target is declared before the first part only, and the hold-back follows it")
    func declaredPartTarget() throws {
        var state = MediaPlaylistState(configuration: try HLSFixtures.configuration(targetDuration: 2, partTarget: 0.5))
        state.declarePartTarget(0.4)
        #expect(state.configuration.partTarget == 0.5, "never shorter")
        state.declarePartTarget(0.501)
        #expect(state.configuration.partTarget == 0.501 && abs(state.configuration.partHoldBack - 1.503) < 1e-9)
        let text = MediaPlaylistRenderer.live(state)
        #expect(text.contains("#EXT-X-PART-INF:PART-TARGET=0.501\n"), "\(text)")
        #expect(text.contains("PART-HOLD-BACK=1.503,"), "\(text)")
        state.declarePartTarget(.nan)
        state.declarePartTarget(5)
        #expect(state.configuration.partTarget == 0.501, "invalid targets change nothing")
        try HLSFixtures.addSegment(&state, parts: 4, partDuration: 0.5)
        state.declarePartTarget(0.51)
        #expect(state.configuration.partTarget == 0.501, "fixed once a part is out")
    }

    @Test("number and date spellings")
    func formats() {
        #expect(HLSFormat.fixed(4.00008, decimals: 5) == "4.00008")
        #expect(HLSFormat.fixed(2, decimals: 5) == "2.00000")
        #expect(HLSFormat.fixed(29.97002997, decimals: 3) == "29.970")
        #expect(HLSFormat.fixed(0.000004, decimals: 5) == "0.00000")
        #expect(HLSFormat.decimal(1) == "1.0")
        #expect(HLSFormat.decimal(0.33334) == "0.33334")
        #expect(HLSFormat.decimal(0.2) == "0.2")
        #expect(HLSFormat.decimal(24) == "24.0")
        #expect(HLSFormat.dateTime(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(HLSFormat.dateTime(Date(timeIntervalSince1970: 1_709_251_199.999)) == "2024-02-29T23:59:59.999Z")
        #expect(HLSFormat.dateTime(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
        #expect(HLSFormat.dateTime(HLSFixtures.exampleStart) == "2019-02-14T02:13:28.106Z")
    }

    @Test("resource names round-trip; anything else is not a resource")
    func resourceNames() {
        for resource: HLSResource in [.playlist, .initialization, .segment(msn: 0), .segment(msn: 273), .part(msn: 273, index: 11)] {
            #expect(HLSResource(name: resource.name) == resource)
        }
        for bad in [
            "s.m4s", "s012.m4s", "s-1.m4s", "s1.p.m4s", "s1.p01.m4s", "s1.p2.p3.m4s", "s1.m4", "x1.m4s",
            "s1234567890123456789.m4s", "s+1.m4s", "s1.q2.m4s", "index.m3u",
        ] {
            #expect(HLSResource(name: bad) == nil, "\(bad)")
        }
    }
}
