import Channels
import EventStore
import Foundation
import TestSupport
import Testing

/// Issue 26, item 0: a replay reads the log, the live tables and their checkpoint in one snapshot,
/// so appends and the live projection moving meanwhile never show as differences.
@Suite struct ReplaySnapshotTests {
    let admin = EventMetadata(actor: .admin)

    @Test func replaysWhileStreamsAppendReportNoPhantomDifferences() async throws {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        let store = try await TestDatabase.makeStore("replaysnap", registry: registry)
        let channels = ChannelService(store: store)
        channels.start()
        defer {
            Task {
                await channels.shutdown(); await store.shutdown()
            }
        }
        for i in 0..<5 { _ = try await channels.create(name: "seed\(i)", metadata: admin) }

        let writer = Task {
            for i in 0..<150 {
                _ = try await channels.create(name: "busy\(i)", metadata: admin)
                if i % 3 == 0 { _ = try await channels.rotateKey(name: "busy\(i)", metadata: admin) }
            }
        }
        var reports: [ProjectionReplay.Report] = []
        for round in 0..<6 {
            let replay = ProjectionReplay(store: store, projection: ChannelsProjection())
            // Half the rounds as of an earlier position: still compared at live's own checkpoint.
            reports.append(try await replay.run(asOf: round.isMultiple(of: 2) ? nil : 3, into: nil, diff: true))
        }
        try await writer.value
        for report in reports {
            #expect(report.isIdentical, "\(report)")
            #expect(report.liveCheckpoint <= report.head)
        }
        #expect(reports.contains { $0.materialized.position == 3 && $0.comparison?.rebuilt.position == $0.liveCheckpoint })
    }

    @Test func aNamedSchemaIsKeptReadableAndDroppedOnlyWhenOurs() async throws {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        let store = try await TestDatabase.makeStore("replayschema", registry: registry)
        let channels = ChannelService(store: store)
        channels.start()
        defer {
            Task {
                await channels.shutdown(); await store.shutdown()
            }
        }
        for name in ["a1", "b2"] { _ = try await channels.create(name: name, metadata: admin) }
        let replay = ProjectionReplay(store: store, projection: ChannelsProjection())
        let report = try await replay.run(asOf: 2, into: "audit_a1", diff: false)
        #expect(report.comparison == nil)
        #expect(try await SQL.column(store.url, "SELECT name FROM audit_a1.channels") == ["a1"])
        #expect(try await SQL.column(store.url, "SELECT as_of::text FROM audit_a1.streamd_replay") == ["2"])
        await #expect(throws: ProjectionReplay.ReplayError.self) { try await replay.run(asOf: 2, into: "audit_a1", diff: false) }
        await #expect(throws: ProjectionReplay.ReplayError.self) { try await replay.run(asOf: 1, into: "Bad-Name", diff: false) }
        await #expect(throws: ProjectionReplay.ReplayError.self) { try await replay.run(asOf: 999, into: nil, diff: true) }
        try await SQL.execute(store.url, "CREATE SCHEMA somebody_elses")
        await #expect(throws: ProjectionReplay.ReplayError.self) { try await ProjectionReplay.drop(schema: "somebody_elses", store: store) }
        await #expect(throws: ProjectionReplay.ReplayError.self) { try await ProjectionReplay.drop(schema: "public", store: store) }
        try await ProjectionReplay.drop(schema: "audit_a1", store: store)
        #expect(
            try await SQL.column(store.url, "SELECT count(*)::text FROM pg_namespace WHERE nspname IN ('audit_a1', 'somebody_elses')") == [
                "1"
            ])
        // The live model's hash, at its checkpoint, is the one a rebuild there gives.
        let live = try await replay.live()
        let rebuilt = try await replay.run(asOf: live.position, into: nil, diff: false)
        #expect(live.hash == rebuilt.materialized.hash)
    }
}
