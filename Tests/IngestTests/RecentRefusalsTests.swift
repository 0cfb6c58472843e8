import Testing

@testable import Ingest

/// A refused SRT attempt that libsrt presents again (a retransmitted conclusion handshake) gets its
/// first answer, once; new attempts are decided afresh; memory stays bounded.
@Suite struct RecentRefusalsTests {
    @Test func aRepeatWithinTheWindowGetsTheFirstAnswer() {
        var refusals = RecentRefusals(window: .seconds(5))
        let start = ContinuousClock.now
        let attempt = RecentRefusals.attempt(remote: "10.0.0.2:40000", streamID: "live/sk_wrong")
        #expect(refusals.repeated(attempt, now: start) == nil)
        refusals.record(attempt, code: 1404, now: start)
        #expect(refusals.repeated(attempt, now: start + .seconds(1)) == 1404)
        #expect(refusals.repeated(attempt, now: start + .seconds(5)) == nil, "past the window it is a new attempt")
        // Another socket (port) or another stream id is another attempt.
        #expect(refusals.repeated(RecentRefusals.attempt(remote: "10.0.0.2:40001", streamID: "live/sk_wrong"), now: start) == nil)
        #expect(refusals.repeated(RecentRefusals.attempt(remote: "10.0.0.2:40000", streamID: "live/sk_other"), now: start) == nil)
        #expect(RecentRefusals.attempt(remote: "10.0.0.2:40000", streamID: nil) != attempt)
    }

    @Test func aFloodOfDistinctCallersStaysBounded() {
        var refusals = RecentRefusals(window: .seconds(5), capacity: 100)
        let start = ContinuousClock.now
        for port in 0..<10_000 {
            refusals.record("10.0.0.2:\(port) live/x", code: 1404, now: start + .milliseconds(port))
            #expect(refusals.count <= 100)
        }
        // The newest are still remembered.
        #expect(refusals.repeated("10.0.0.2:9999 live/x", now: start + .milliseconds(10_000)) == 1404)
    }
}
