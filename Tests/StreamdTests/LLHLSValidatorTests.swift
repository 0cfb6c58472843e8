import Testing

/// The test-side validator must catch what it is there to catch: checked on playlists written by
/// hand, so a server that breaks a rule cannot hide behind a validator that never fails.
struct LLHLSValidatorTests {
    /// A live playlist of `count` complete 2 s segments from `first`, parts listed on the last
    /// three, and two parts of the next segment in progress.
    static func playlist(
        first: Int = 0, count: Int = 10, partTarget: String = "0.5", holdBack: String = "1.5", version: Int = 9,
        skip: (count: Int, attributes: String)? = nil
    ) -> String {
        var lines = [
            "#EXTM3U", "#EXT-X-VERSION:\(version)", "#EXT-X-TARGETDURATION:2",
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=\(holdBack),CAN-SKIP-UNTIL=12",
            "#EXT-X-PART-INF:PART-TARGET=\(partTarget)", "#EXT-X-MEDIA-SEQUENCE:\(first)", "#EXT-X-DISCONTINUITY-SEQUENCE:0",
            "#EXT-X-MAP:URI=\"init.mp4\"",
        ]
        let skipped = skip?.count ?? 0
        if let skip { lines.append("#EXT-X-SKIP:SKIPPED-SEGMENTS=\(skip.count)\(skip.attributes)") }
        for msn in (first + skipped)..<(first + count) {
            if msn == first { lines.append("#EXT-X-PROGRAM-DATE-TIME:2026-12-06T05:00:00.000Z") }
            if msn >= first + count - 3 {
                for index in 0..<4 {
                    lines.append("#EXT-X-PART:DURATION=0.5,URI=\"s\(msn).p\(index).m4s\"\(index == 0 ? ",INDEPENDENT=YES" : "")")
                }
            }
            lines += ["#EXTINF:2.00000,", "s\(msn).m4s"]
        }
        let next = first + count
        lines += [
            "#EXT-X-PART:DURATION=0.5,URI=\"s\(next).p0.m4s\",INDEPENDENT=YES", "#EXT-X-PART:DURATION=0.5,URI=\"s\(next).p1.m4s\"",
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"s\(next).p2.m4s\"",
            "#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8\",LAST-MSN=\(next),LAST-PART=1",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    @Test func aGoodPlaylistAndItsDeltaPass() throws {
        let full = try MediaPlaylist(Self.playlist())
        #expect(full.liveProblems(otherRenditions: ["audio"]) == [])
        // 10 segments of 2 s, CAN-SKIP-UNTIL 12: segments 0 to 3 end 12 s or more before the end.
        let delta = try MediaPlaylist(Self.playlist(skip: (4, "")))
        #expect(delta.liveProblems(otherRenditions: ["audio"]) == [])
        #expect(delta.deltaProblems(against: full) == [])
        let v2 = try MediaPlaylist(Self.playlist(version: 10, skip: (4, ",RECENTLY-REMOVED-DATERANGES=\"\"")))
        #expect(v2.deltaProblems(against: full) == [])
    }

    @Test func aDeltaSkippingInsideTheBoundaryOrUnderTheVersionFails() throws {
        let full = try MediaPlaylist(Self.playlist())
        let greedy = try MediaPlaylist(Self.playlist(skip: (5, "")))
        #expect(greedy.deltaProblems(against: full)?.contains { $0.contains("segment 4 was skipped") } == true)
        let old = try MediaPlaylist(Self.playlist(version: 6, skip: (4, "")))
        #expect(old.liveProblems(otherRenditions: ["audio"]).contains { $0.contains("< 9, which the tags in use need") })
        let v2 = try MediaPlaylist(Self.playlist(skip: (4, ",RECENTLY-REMOVED-DATERANGES=\"\"")))
        #expect(v2.deltaProblems(against: full)?.contains { $0.contains("< 10") } == true)
        let later = try MediaPlaylist(Self.playlist(first: 1, skip: (4, "")))
        #expect(later.deltaProblems(against: full) == nil, "a delta of another moment is not compared")
    }

    @Test func theSessionCatchesAPartTargetOrHoldBackChangingBetweenReloads() throws {
        var session = PlaylistSession()
        #expect(session.observe(try MediaPlaylist(Self.playlist())) == [])
        #expect(session.observe(try MediaPlaylist(Self.playlist(first: 1))) == [])
        let changed = session.observe(try MediaPlaylist(Self.playlist(first: 2, partTarget: "0.501", holdBack: "1.503")))
        #expect(changed.count == 2 && changed.contains { $0.contains("PART-TARGET") } && changed.contains { $0.contains("PART-HOLD-BACK") })
        #expect(session.observe(try MediaPlaylist(Self.playlist(first: 0))).contains { $0.contains("MEDIA-SEQUENCE went back") })
    }

    @Test func thePlaylistRulesCatchBrokenParts() throws {
        let longPart = Self.playlist().replacingOccurrences(of: "DURATION=0.5,URI=\"s10.p1.m4s\"", with: "DURATION=0.6,URI=\"s10.p1.m4s\"")
        #expect(try MediaPlaylist(longPart).liveProblems(otherRenditions: ["audio"]).contains { $0.contains("s10.p1.m4s lasts 0.6") })
        let lowHoldBack = Self.playlist(holdBack: "1.0")
        #expect(try MediaPlaylist(lowHoldBack).liveProblems(otherRenditions: ["audio"]).contains { $0.contains("PART-HOLD-BACK 1.0") })
        let wrongHint = Self.playlist().replacingOccurrences(of: "s10.p2.m4s", with: "s10.p3.m4s")
        #expect(try MediaPlaylist(wrongHint).liveProblems(otherRenditions: ["audio"]).contains { $0.contains("preload hint") })
        #expect(
            try MediaPlaylist(Self.playlist()).liveProblems(otherRenditions: ["audio", "160p"]).contains {
                $0.contains("rendition reports")
            })
    }

    @Test func theFragmentReaderTellsASyncFirstSample() {
        func box(_ type: String, _ payload: [UInt8]) -> [UInt8] {
            let size = UInt32(payload.count + 8)
            return [UInt8(size >> 24), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF), UInt8(size & 0xFF)] + Array(type.utf8) + payload
        }
        // trun with data offset and first-sample flags (0x000005), one sample.
        func part(firstFlags: [UInt8]) -> [UInt8] {
            let trun = box("trun", [0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0] + firstFlags)
            let tfhd = box("tfhd", [0, 0x02, 0, 0, 0, 0, 0, 1])
            return box("styp", Array("msdh".utf8)) + box("moof", box("mfhd", [0, 0, 0, 0, 0, 0, 0, 1]) + box("traf", tfhd + trun))
        }
        #expect(FragmentReader.startsWithSyncSample(part(firstFlags: [0x02, 0, 0, 0])) == true)
        #expect(FragmentReader.startsWithSyncSample(part(firstFlags: [0x01, 0x01, 0, 0])) == false)
        #expect(FragmentReader.startsWithSyncSample([1, 2, 3]) == nil)
    }
}
