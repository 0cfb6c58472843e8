import Gateway
import Testing

@Suite struct ViewerTrackerTests {
    let start = ContinuousClock.now
    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }
    func id(_ value: UInt64) -> ViewerID { ViewerID(value: value) }

    @Test func aClientIsAViewerForTheWindowAfterItsLastFetch() {
        var window = ViewerWindow(limits: .init(perSession: 10, total: 10))
        #expect(window.record(id(1), session: "s", channel: "demo", window: .seconds(6), now: at(0)) == .added)
        #expect(window.record(id(2), session: "s", channel: "demo", window: .seconds(6), now: at(1)) == .added)
        #expect(window.record(id(1), session: "s", channel: "demo", window: .seconds(6), now: at(4)) == .refreshed)
        #expect(window.viewers(session: "s", now: at(5.9)) == 2)
        #expect(window.viewers(session: "s", now: at(7)) == 1, "2 went quiet at 1 s")
        #expect(window.viewers(session: "s", now: at(10)) == 0)
        #expect(window.tracked == 2, "expired clients stay until a sweep")
        #expect(window.sweep(now: at(7)) == ["s": .init(channel: "demo", viewers: 1)])
        #expect(window.tracked == 1)
        #expect(window.sweep(now: at(10)) == ["s": .init(channel: "demo", viewers: 0)], "the session goes with its last client")
        #expect(window.sweep(now: at(10)).isEmpty)
        #expect(window.tracked == 0)
    }

    @Test func sweepsComeAtMostOncePerInterval() {
        var window = ViewerWindow(limits: .init(perSession: 10, total: 10))
        _ = window.record(id(1), session: "s", channel: "demo", window: .seconds(6), now: at(0))
        #expect(window.sweepIfDue(now: at(0), interval: .seconds(1)) != nil, "the first one")
        #expect(window.sweepIfDue(now: at(0.5), interval: .seconds(1)) == nil)
        #expect(window.sweepIfDue(now: at(1), interval: .seconds(1)) != nil)
    }

    @Test func capsDropNewClientsUntilExpiredOnesMakeRoom() {
        var window = ViewerWindow(limits: .init(perSession: 2, total: 3))
        #expect(window.record(id(1), session: "a", channel: "a", window: .seconds(6), now: at(0)) == .added)
        #expect(window.record(id(2), session: "a", channel: "a", window: .seconds(6), now: at(0)) == .added)
        #expect(window.record(id(3), session: "a", channel: "a", window: .seconds(6), now: at(1)) == .dropped, "per session")
        #expect(
            window.record(id(1), session: "a", channel: "a", window: .seconds(6), now: at(1)) == .refreshed, "known clients still count")
        #expect(window.record(id(4), session: "b", channel: "b", window: .seconds(6), now: at(1)) == .added)
        #expect(window.record(id(5), session: "b", channel: "b", window: .seconds(6), now: at(1.5)) == .dropped, "in total")
        #expect(window.dropped == 2)
        // At 6.5 s client 2 (last seen at 0) has expired: the next new client takes its place.
        #expect(window.record(id(6), session: "a", channel: "a", window: .seconds(6), now: at(6.5)) == .added)
        #expect(window.viewers(session: "a", now: at(6.5)) == 2)
        #expect(window.tracked == 3)
    }

    @Test func aFullWindowSweepsAtMostOnceASecond() {
        var window = ViewerWindow(limits: .init(perSession: 1, total: 1))
        _ = window.record(id(1), session: "a", channel: "a", window: .seconds(1), now: at(0))
        #expect(window.record(id(2), session: "a", channel: "a", window: .seconds(1), now: at(0.2)) == .dropped)
        // Client 1 has expired at 1.1 s, but the cap swept at 0.2 s: no second pass yet.
        #expect(window.record(id(3), session: "a", channel: "a", window: .seconds(1), now: at(1.1)) == .dropped)
        #expect(window.record(id(4), session: "a", channel: "a", window: .seconds(1), now: at(1.3)) == .added)
    }

    @Test func theTrackerCountsPerSessionAndChannelWithItsPeak() {
        let tracker = ViewerTracker()
        let window = tracker.window(segmentTarget: 2)
        #expect(window == .seconds(6))
        #expect(tracker.window(segmentTarget: 4) == .seconds(12))
        for viewer in 1...3 { tracker.record(id(UInt64(viewer)), session: "s1", channel: "demo", window: window, now: at(0)) }
        tracker.record(id(4), session: "s2", channel: "other", window: window, now: at(0))
        tracker.record(id(1), session: "s1", channel: "demo", window: window, now: at(3))
        #expect(tracker.counts(now: at(1)) == ["demo": 3, "other": 1])
        #expect(tracker.viewers(session: "s1", now: at(1)) == .init(session: "s1", channel: "demo", viewers: 3, peak: 3))
        #expect(tracker.counts(now: at(7)) == ["demo": 1], "2 and 3 went quiet at 0 s, 1 at 3 s")
        #expect(tracker.viewers(session: "s1", now: at(7))?.peak == 3, "the peak stays")
        #expect(tracker.counts(now: at(10)).isEmpty)
        #expect(tracker.viewers(session: "s1", now: at(10)) == .init(session: "s1", channel: "demo", viewers: 0, peak: 3))
    }

    @Test func theTrackerSplitsItsCapsOverItsShards() {
        let tracker = ViewerTracker(configuration: .init(maxPerSession: 16 * 2, maxTotal: 16 * 100))
        // Ids 0, 16, 32 … all land in shard 0, which holds 2 clients of a session.
        for viewer in 0..<5 { tracker.record(id(UInt64(viewer * 16)), session: "s", channel: "c", window: .seconds(6), now: at(0)) }
        #expect(tracker.counts(now: at(1)) == ["c": 2])
        #expect(tracker.dropped == 3)
    }

    @Test func aPlayerIsKnownByItsSessionIdAndOthersByAddressAndAgent() {
        #expect(ViewerID.player(sessionID: "abc") == ViewerID.player(sessionID: "abc"[...]))
        #expect(ViewerID.player(sessionID: "abc") != ViewerID.player(sessionID: "abd"))
        let agent: String? = "hls.js"
        #expect(
            ViewerID.client(address: "10.0.0.1", userAgent: agent) == ViewerID.client(address: "10.0.0.1"[...], userAgent: "hls.js"[...]))
        #expect(ViewerID.client(address: "10.0.0.1", userAgent: agent) != ViewerID.client(address: "10.0.0.1", userAgent: "curl"))
        #expect(ViewerID.client(address: "10.0.0.1", userAgent: agent) != ViewerID.client(address: "10.0.0.2", userAgent: agent))
        #expect(ViewerID.client(address: "abc", userAgent: String?.none) != ViewerID.player(sessionID: "abc"), "the kinds never meet")
    }
}
