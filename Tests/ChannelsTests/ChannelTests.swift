import Channels
import EventStore
import Foundation
import TestSupport
import Testing

@Suite struct ChannelTests {
    func service(_ label: String) async throws -> (EventStore, ChannelService) {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        let store = try await TestDatabase.makeStore(label, registry: registry)
        let channels = ChannelService(store: store)
        channels.start()
        return (store, channels)
    }

    let admin = EventMetadata(actor: .admin)

    /// Refused publishes land in the channel's stream; a rotation racing them reloads and goes on.
    @Test func keyRotationsSucceedWhileRefusalsAppendToTheChannelsStream() async throws {
        let (store, channels) = try await service("chan-race")
        defer {
            Task {
                await channels.shutdown(); await store.shutdown()
            }
        }
        _ = try await channels.create(name: "busy", metadata: admin)
        let knocking = Task {
            var count = 0
            while !Task.isCancelled {
                _ = try? await store.append(
                    to: "channel-busy", expectedVersion: .any,
                    events: [NewEvent(eventType: "PublishRejected", schemaVersion: 1, data: #"{"reason":"revoked_key"}"#, metadata: admin)])
                count += 1
                // 50 a second: far more than the 20 a minute a channel's stream records.
                try? await Task.sleep(for: .milliseconds(20))
            }
            return count
        }
        for _ in 0..<10 {
            _ = try await channels.rotateKey(name: "busy", metadata: admin)
            try await Task.sleep(for: .milliseconds(15))
        }
        try await channels.revokeKey(name: "busy", metadata: admin)
        knocking.cancel()
        #expect(await knocking.value > 5, "the refusals kept coming while the keys rotated")
    }

    @Test func keysLiveAndDieByTheirEvents() async throws {
        let (store, channels) = try await service("chan")
        defer {
            Task {
                await channels.shutdown(); await store.shutdown()
            }
        }
        let (channel, key) = try await channels.create(name: "demo", metadata: admin)
        #expect(channel.name == "demo")
        #expect(key.text.hasPrefix("sk_") && key.text.count >= 46)
        #expect(try await channels.check(key: key.text) == .valid(channelId: channel.id, channel: "demo"))
        #expect(try await channels.check(key: "sk_nonsense") == .unknown)

        await #expect(throws: ChannelError.duplicate("demo")) { try await channels.create(name: "demo", metadata: admin) }
        await #expect(throws: ChannelError.invalidName("Bad Name")) { try await channels.create(name: "Bad Name", metadata: admin) }
        await #expect(throws: ChannelError.notFound("nope")) { try await channels.rotateKey(name: "nope", metadata: admin) }

        var rotation = admin
        rotation.reason = "leaked on stream"
        let newKey = try await channels.rotateKey(name: "demo", metadata: rotation)
        guard case .revoked(let name, _, let by, let reason) = try await channels.check(key: key.text) else {
            Issue.record("the rotated-out key still works"); return
        }
        #expect(name == "demo" && by == "admin:admin" && reason == "leaked on stream")
        #expect(try await channels.check(key: newKey.text) == .valid(channelId: channel.id, channel: "demo"))

        try await channels.revokeKey(name: "demo", metadata: admin)
        #expect(try await channels.list().map(\.hasActiveKey) == [false])
        await #expect(throws: ChannelError.noActiveKey("demo")) { try await channels.revokeKey(name: "demo", metadata: admin) }

        // Only hashes reach the log.
        let log = try await store.read(after: 0)
        #expect(log.map(\.eventType) == ["ChannelCreated", "StreamKeyIssued", "StreamKeyRevoked", "StreamKeyIssued", "StreamKeyRevoked"])
        #expect(!log.contains { $0.dataText.contains(key.text) || $0.dataText.contains(newKey.text) })
        #expect(log[2].metadata.reason == "leaked on stream")
    }

    @Test func replayRebuildsTheSameModelAndSpotsADrift() async throws {
        let (store, channels) = try await service("replay")
        defer {
            Task {
                await channels.shutdown(); await store.shutdown()
            }
        }
        for name in ["a1", "b2", "c3"] { _ = try await channels.create(name: name, metadata: admin) }
        _ = try await channels.rotateKey(name: "b2", metadata: admin)
        try await channels.revokeKey(name: "c3", metadata: admin)
        let report = try await ProjectionReplay(store: store, projection: ChannelsProjection()).run()
        #expect(report.isIdentical, "\(report)")
        #expect(report.eventsApplied == 9)

        // As of an earlier position the rebuild lacks what came later; live is compared like with
        // like, with a rebuild at its own position, and the report says so.
        let early = try await ProjectionReplay(store: store, projection: ChannelsProjection()).run(until: 2)
        #expect(early.isIdentical, "\(early)")
        #expect(early.materialized.position == 2)
        #expect(early.materialized.tables.first { $0.name == "channels" }?.rows == 1)
        #expect(early.materialized.hash != early.comparison?.live.hash)
        #expect(early.description.contains("compared it with a rebuild as of \(early.liveCheckpoint)"), "\(early)")

        // A read model edited behind the log's back no longer matches its rebuild.
        try await SQL.execute(store.url, "UPDATE channels SET created_by = 'mallory' WHERE name = 'a1'")
        let drifted = try await ProjectionReplay(store: store, projection: ChannelsProjection()).run()
        #expect(drifted.differences.map(\.table) == ["channels"])
        #expect(drifted.description.contains("mallory"))
        #expect(try await SQL.column(store.url, "SELECT count(*)::text FROM pg_namespace WHERE nspname LIKE 'replay_%'") == ["0"])
    }

    @Test func twoRunnersOfOneProjectionApplyEachEventOnce() async throws {
        let (store, channels) = try await service("tworun")
        defer {
            Task {
                await channels.shutdown(); await store.shutdown()
            }
        }
        let second = ChannelService(store: store)
        second.start()
        defer { Task { await second.shutdown() } }
        for i in 0..<20 { _ = try await channels.create(name: "ch\(i)", metadata: admin) }
        await second.runner.waitUntil(try await store.headPosition())
        #expect(try await second.list().count == 20)
        #expect(try await ProjectionReplay(store: store, projection: ChannelsProjection()).run().isIdentical)
    }
}
