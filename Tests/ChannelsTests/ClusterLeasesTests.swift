import Channels
import EventStore
import Foundation
import TestSupport
import Testing

/// Two nodes' leases on one real database: a channel is held by one live node at a time, a take
/// is given back only by its own token, and an expired node is taken as lost by exactly one peer.
@Suite struct ClusterLeasesTests {
    @Test func aChannelIsHeldByOneLiveNodeAtATime() async throws {
        let store = try await TestDatabase.makeStore("leases")
        defer { Task { await store.shutdown() } }
        let a = ClusterLeases(store: store, nodeID: "node-a")
        let b = ClusterLeases(store: store, nodeID: "node-b")
        try await a.join(url: "http://a:8080", version: "t", lease: .seconds(30))
        try await b.join(url: "http://b:8080", version: "t", lease: .seconds(30))

        guard case .held(let first) = try await a.claim(channelID: "c1") else { Issue.record("a could not take c1"); return }
        #expect(try await b.claim(channelID: "c1") == .heldElsewhere(nodeID: "node-a", url: "http://a:8080"))
        #expect(try await b.heldElsewhere(channelID: "c1") == "http://a:8080")
        #expect(try await a.heldElsewhere(channelID: "c1") == nil, "a node does not see itself as elsewhere")

        // A newer take by the same node is not given back by the older session's token.
        guard case .held(let second) = try await a.claim(channelID: "c1") else { Issue.record("a could not take c1 again"); return }
        #expect(first != second)
        try await a.release(channelID: "c1", token: first)
        #expect(try await b.claim(channelID: "c1") == .heldElsewhere(nodeID: "node-a", url: "http://a:8080"))
        try await a.release(channelID: "c1", token: second)
        guard case .held = try await b.claim(channelID: "c1") else { Issue.record("b could not take the freed c1"); return }

        // b leaves: its channels are free at once, and it is not live.
        try await b.leave()
        guard case .held = try await a.claim(channelID: "c1") else { Issue.record("a could not take c1 after b left"); return }
        let nodes = try await a.nodes()
        #expect(nodes.map(\.nodeID) == ["node-a", "node-b"] && nodes.map(\.isLive) == [true, false], "\(nodes)")
    }

    @Test func anExpiredNodeIsTakenAsLostOnceAndItsChannelsGoElsewhere() async throws {
        let store = try await TestDatabase.makeStore("leases-expiry")
        defer { Task { await store.shutdown() } }
        let a = ClusterLeases(store: store, nodeID: "node-a")
        let b = ClusterLeases(store: store, nodeID: "node-b")
        let c = ClusterLeases(store: store, nodeID: "node-c")
        try await a.join(url: "http://a:8080", version: "t", lease: .seconds(30))
        try await c.join(url: "http://c:8080", version: "t", lease: .seconds(30))
        try await b.join(url: "http://b:8080", version: "t", lease: .milliseconds(300))
        guard case .held = try await b.claim(channelID: "c9") else { Issue.record("b could not take c9"); return }
        #expect(try await a.takeExpired().isEmpty)
        try await Task.sleep(for: .milliseconds(600))

        // b's lease ran out: a channel it held can be taken at once, before anyone reaps it.
        guard case .held = try await c.claim(channelID: "c9") else { Issue.record("c could not take c9 from a dead node"); return }
        async let byA = a.takeExpired()
        async let byC = c.takeExpired()
        let lost = try await byA + byC
        #expect(lost.map(\.nodeID) == ["node-b"], "exactly one peer takes b as lost: \(lost)")
        #expect(try await a.takeExpired().isEmpty)
        // b comes back: its renewal says it had been taken as lost, and it is live again.
        #expect(try await b.renew(lease: .seconds(30)) == false)
        #expect(try await b.renew(lease: .seconds(30)) == true)
    }

    @Test func aSessionWaitingForItsEncoderLetsAnotherNodeTakeTheChannel() async throws {
        let store = try await TestDatabase.makeStore("leases-waiting")
        defer { Task { await store.shutdown() } }
        let a = ClusterLeases(store: store, nodeID: "node-a")
        let b = ClusterLeases(store: store, nodeID: "node-b")
        try await a.join(url: "http://a:8080", version: "t", lease: .seconds(30))
        try await b.join(url: "http://b:8080", version: "t", lease: .seconds(30))
        guard case .held(let token) = try await a.claim(channelID: "c1") else { Issue.record("a could not take c1"); return }

        // The encoder left (order 2); a "back" sent earlier (order 1) arrives late and changes nothing.
        #expect(try await a.markWaiting(channelID: "c1", token: token, waiting: true, order: 2))
        #expect(try await a.markWaiting(channelID: "c1", token: token, waiting: false, order: 1))
        guard case .held = try await b.claim(channelID: "c1") else { Issue.record("b could not take a waiting channel"); return }
        #expect(try await a.takenElsewhere(["c1", "c2"]) == ["c1": "http://b:8080"])
        // The encoder comes back to a: the channel is b's now.
        #expect(try await a.markWaiting(channelID: "c1", token: token, waiting: false, order: 3) == false)
        #expect(try await a.claim(channelID: "c1") == .heldElsewhere(nodeID: "node-b", url: "http://b:8080"))
    }
}
