import TestSupport
import Testing

@testable import Packager

/// Client-controlled text and numbers never trap: every outcome is a value or a typed error.
@Suite("Untrusted input")
struct UntrustedInputTests {
    @Test("random queries parse or fail with a BlockingRequestError, and decide without trapping")
    func randomQueries() throws {
        var random = SeededGenerator(state: 0x5EED)
        let pieces = [
            "_HLS_msn", "_HLS_part", "_HLS_skip", "=", "&", "%", "%3", "%31", "-", "+", "YES", "v2", "0", "1", "12",
            "99999999999999999", "9223372036854775807", "18446744073709551616", "é", "\u{0}", " ", "x",
        ]
        let state = try HLSFixtures.blockingState(partTarget: 0.33334)
        var parsed = 0
        for _ in 0..<20_000 {
            let count = Int.random(in: 1...8, using: &random)
            let query = (0..<count).map { _ in pieces.randomElement(using: &random) ?? "" }.joined()
            do {
                let directives = try PlaylistDirectives(rawQuery: query)
                parsed += 1
                if let blocking = directives.blocking {
                    _ = blocking.decide(against: state)
                    _ = try PartRequest(msn: blocking.msn, index: blocking.part ?? 0).decide(against: state)
                }
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(parsed > 0)
    }

    @Test("extreme numbers in requests and resource names decide without trapping")
    func extremes() throws {
        let states = [
            try HLSFixtures.blockingState(), try HLSFixtures.blockingState(ended: true),
            MediaPlaylistState(configuration: try HLSFixtures.configuration()),
        ]
        let numbers = [0, 1, 2, 11, 12, 13, 1 << 53, Int.max - 2, Int.max - 1, Int.max]
        for state in states {
            for msn in numbers {
                for part in numbers {
                    _ = try BlockingRequest(msn: msn, part: part).decide(against: state)
                    _ = try BlockingRequest(msn: msn).decide(against: state)
                    _ = try PartRequest(msn: msn, index: part).decide(against: state)
                    _ = state.contains(msn: msn, part: part)
                }
            }
        }
        #expect(HLSResource(name: "s9223372036854775807.m4s") == nil)
        #expect(
            HLSResource(name: "s999999999999999999.p999999999999999999.m4s")
                == .part(msn: 999_999_999_999_999_999, index: 999_999_999_999_999_999))
    }
}
