import Testing

@testable import Packager

@Suite("Blocking playlist reload rules")
struct BlockingRequestTests {
    // MARK: Parsing

    @Test(
        "delivery directives are read from the query",
        arguments: [
            ("_HLS_msn=12&_HLS_part=3", PlaylistDirectives(blocking: try! BlockingRequest(msn: 12, part: 3))),
            ("_HLS_msn=12", PlaylistDirectives(blocking: try! BlockingRequest(msn: 12))),
            ("_HLS_msn=0&_HLS_part=0&_HLS_skip=YES", PlaylistDirectives(blocking: try! BlockingRequest(msn: 0, part: 0), skip: .yes)),
            ("_HLS_skip=v2", PlaylistDirectives(skip: .v2)),
            ("token=abc&_HLS_msn=5&_HLS_report=x&cb=1", PlaylistDirectives(blocking: try! BlockingRequest(msn: 5))),
            ("%5FHLS_msn=7&_HLS_part=%31", PlaylistDirectives(blocking: try! BlockingRequest(msn: 7, part: 1))),
            ("", PlaylistDirectives()),
        ])
    func parses(query: String, expected: PlaylistDirectives) throws {
        #expect(try PlaylistDirectives(rawQuery: query) == expected)
    }

    @Test(
        "garbage is a typed error",
        arguments: [
            ("_HLS_part=3", BlockingRequestError.partWithoutMSN(part: "3")),
            ("_HLS_skip=YES&_HLS_part=3", .partWithoutMSN(part: "3")),
            ("_HLS_msn=-1", .negative(parameter: "_HLS_msn", value: "-1")),
            ("_HLS_msn=4&_HLS_part=-2", .negative(parameter: "_HLS_part", value: "-2")),
            ("_HLS_msn=abc", .notANumber(parameter: "_HLS_msn", value: "abc")),
            ("_HLS_msn=", .notANumber(parameter: "_HLS_msn", value: "")),
            ("_HLS_msn", .notANumber(parameter: "_HLS_msn", value: "")),
            ("_HLS_msn=+3", .notANumber(parameter: "_HLS_msn", value: "+3")),
            ("_HLS_msn=1e3", .notANumber(parameter: "_HLS_msn", value: "1e3")),
            ("_HLS_msn=%203", .notANumber(parameter: "_HLS_msn", value: " 3")),
            ("_HLS_msn=3.0", .notANumber(parameter: "_HLS_msn", value: "3.0")),
            ("_HLS_msn=1234567890123456789", .notANumber(parameter: "_HLS_msn", value: "1234567890123456789")),
            ("_HLS_msn=1&_HLS_part=x", .notANumber(parameter: "_HLS_part", value: "x")),
            ("_HLS_skip=yes", .invalidSkip(value: "yes")),
            ("_HLS_skip=", .invalidSkip(value: "")),
            ("_HLS_msn=1&_HLS_msn=2", .repeated(parameter: "_HLS_msn")),
            ("_HLS_msn=1&_HLS_part=1&_HLS_part=2", .repeated(parameter: "_HLS_part")),
        ])
    func rejects(query: String, expected: BlockingRequestError) {
        #expect(throws: expected) { try PlaylistDirectives(rawQuery: query) }
    }

    @Test("decoded pairs work the same, and long values are cut short in errors")
    func pairs() throws {
        #expect(try PlaylistDirectives(query: [("_HLS_msn", "9"), ("_HLS_part", "2")]).blocking == BlockingRequest(msn: 9, part: 2))
        let long = String(repeating: "9", count: 100)
        #expect(throws: BlockingRequestError.notANumber(parameter: "_HLS_msn", value: String(repeating: "9", count: 32) + "…")) {
            try PlaylistDirectives(query: [("_HLS_msn", long)])
        }
        #expect(throws: BlockingRequestError.self) { try BlockingRequest(msn: -1) }
        #expect(throws: BlockingRequestError.self) { try PartRequest(msn: 1, index: -1) }
    }

    // MARK: Decisions

    private static func playlist(_ msn: Int, _ part: Int? = nil) throws -> BlockingRequest {
        try BlockingRequest(msn: msn, part: part)
    }

    private static func isBadRequest(_ decision: BlockingDecision) -> Bool {
        if case .badRequest = decision { return true }
        return false
    }

    private static func isNotFound(_ decision: BlockingDecision) -> Bool {
        if case .notFound = decision { return true }
        return false
    }

    /// State: segments 10 and 11 complete with parts 0...3, segment 12 in progress with parts 0 and 1.
    /// Part target 1 s: Advance Part Limit 3.
    @Test(
        "msn/part table against a live state",
        arguments: [
            // msn only: a complete segment, or wait; more than two past LAST-MSN (12) is 400.
            (11, nil, "ready"), (10, nil, "ready"), (3, nil, "ready"),
            (12, nil, "wait"), (14, nil, "wait"), (15, nil, "400"),
            // msn and part within the segment in progress.
            (12, 0, "ready"), (12, 1, "ready"), (12, 2, "wait"), (12, 4, "wait"), (12, 5, "400"), (12, 50, "400"),
            // Older segments, and trimmed ones (a later segment exists).
            (11, 3, "ready"), (10, 0, "ready"), (9, 7, "ready"),
            // A part past the end of completed segment 11 (four parts) is part 0 of segment 12: present.
            (11, 4, "ready"), (11, 99, "ready"),
            // Past the segment in progress, counted at the least one part per new segment.
            (13, 0, "wait"), (13, 2, "wait"), (13, 3, "400"), (14, 0, "wait"), (14, 1, "wait"), (14, 2, "400"),
            (15, 0, "400"),
        ] as [(Int, Int?, String)])
    func liveTable(msn: Int, part: Int?, expected: String) throws {
        let state = try HLSFixtures.blockingState()
        let decision = try Self.playlist(msn, part).decide(against: state)
        switch expected {
        case "ready": #expect(decision == .ready)
        case "wait": #expect(decision == .wait)
        default: #expect(Self.isBadRequest(decision), "\(decision)")
        }
    }

    @Test("a part past the end of the newest completed segment waits for part 0 of the next one")
    func partPastCompletedSegment() throws {
        var state = try HLSFixtures.blockingState()
        try HLSFixtures.addParts(&state, count: 2, duration: 1)
        try state.segmentReady(.init(msn: 12, duration: 4, byteSize: 1))
        #expect(try Self.playlist(12, 3).decide(against: state) == .ready)
        #expect(try Self.playlist(12, 4).decide(against: state) == .wait)
        // Without the rule this would be 6 parts past the last one: a 400.
        #expect(try Self.playlist(12, 9).decide(against: state) == .wait)
        #expect(try Self.playlist(12).decide(against: state) == .ready)
        try HLSFixtures.addParts(&state, count: 1, duration: 1)
        #expect(try Self.playlist(12, 4).decide(against: state) == .ready)
        #expect(try Self.playlist(12, 9).decide(against: state) == .ready)
    }

    @Test("the Advance Part Limit is three seconds of parts when parts are under a second")
    func shortParts() throws {
        #expect(BlockingRequest.advancePartLimit(partTarget: 0.5) == 6)
        #expect(BlockingRequest.advancePartLimit(partTarget: 1) == 3)
        #expect(BlockingRequest.advancePartLimit(partTarget: 2) == 3)
        let state = try HLSFixtures.blockingState(partTarget: 0.5)
        #expect(try Self.playlist(12, 7).decide(against: state) == .wait)
        #expect(Self.isBadRequest(try Self.playlist(12, 8).decide(against: state)))
    }

    @Test("EXT-X-ENDLIST answers every playlist request at once")
    func endList() throws {
        let state = try HLSFixtures.blockingState(ended: true)
        for request in [try Self.playlist(12, 2), try Self.playlist(100), try Self.playlist(100, 50), try Self.playlist(0, 0)] {
            #expect(request.decide(against: state) == .ready)
        }
    }

    @Test("before anything is published: msn 0 and 1 wait, msn 2 is too far")
    func emptyState() throws {
        let state = MediaPlaylistState(configuration: try HLSFixtures.configuration())
        #expect(try Self.playlist(0, 0).decide(against: state) == .wait)
        #expect(try Self.playlist(0).decide(against: state) == .wait)
        #expect(try Self.playlist(1).decide(against: state) == .wait)
        #expect(Self.isBadRequest(try Self.playlist(2).decide(against: state)))
        #expect(Self.isBadRequest(try Self.playlist(0, 3).decide(against: state)))
    }

    @Test("part (preload hint) requests: ready when the part exists, wait for the hinted one, 404 otherwise")
    func partRequests() throws {
        let state = try HLSFixtures.blockingState()
        func decide(_ msn: Int, _ index: Int, _ state: MediaPlaylistState) throws -> BlockingDecision {
            try PartRequest(msn: msn, index: index).decide(against: state)
        }
        #expect(try decide(12, 1, state) == .ready)
        #expect(try decide(10, 3, state) == .ready)
        #expect(try decide(12, 2, state) == .wait, "the hinted part")
        #expect(try decide(12, 4, state) == .wait)
        #expect(try decide(13, 0, state) == .wait)
        #expect(Self.isNotFound(try decide(11, 4, state)), "segment 11 closed with four parts")
        #expect(Self.isNotFound(try decide(9, 0, state)), "before the window")
        #expect(Self.isNotFound(try decide(12, 5, state)), "past the Advance Part Limit")
        #expect(Self.isNotFound(try decide(15, 0, state)))
        #expect(Self.isNotFound(try decide(12, Int.max, state)))

        let ended = try HLSFixtures.blockingState(ended: true)
        #expect(Self.isNotFound(try decide(12, 2, ended)))
        #expect(Self.isNotFound(try decide(12, 1, ended)), "the unfinished segment's parts went with the end")
        #expect(try decide(11, 0, ended) == .ready)
    }

    @Test("contains and the live edge queries")
    func queries() throws {
        let state = try HLSFixtures.blockingState()
        #expect(state.contains(msn: 11))
        #expect(!state.contains(msn: 12))
        #expect(state.contains(msn: 12, part: 1))
        #expect(!state.contains(msn: 12, part: 2))
        #expect(!state.contains(msn: 12, part: -1))
        #expect(state.lastMSN == 12)
        #expect(state.lastPart == 1)
        #expect(state.lastCompleteMSN == 11)
        #expect(state.nextPart.msn == 12)
        #expect(state.nextPart.index == 2)
        #expect(state.mediaSequence == 10)
    }
}
