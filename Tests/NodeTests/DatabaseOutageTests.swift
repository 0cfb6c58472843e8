import EventStore
import Foundation
import Ingest
import Node
import Packager
import TestSupport
import Testing

/// A node on its own supervised embedded PostgreSQL, with the database taken away under it
/// (ops/outage does the same for 60 s against the real binary).
@Suite struct DatabaseOutageTests {
    static func folder(_ label: String) -> URL {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("streamd-\(label)-\(UUID().uuidString.prefix(8))")
    }

    /// kill -9 of the postmaster 5 s into a publish, its port held by another process for 5 s so
    /// the supervisor cannot restart it at once: the stream's facts are spooled and replayed, and
    /// the log ends up with one `SegmentPublished` entry per segment file, `StreamEnded`,
    /// `RecordingFinalized` and `DatabaseOutage`, its chain verified.
    @Test(.timeLimit(.minutes(3))) func aKilledEmbeddedPostmasterLosesNoFactOfALiveStream() async throws {
        try await Self.withSupervisedDatabase("outage") { root, database, cluster in
            try await Self.killUnderAPublish(root: root, database: database, cluster: cluster)
        }
    }

    /// A node on its own embedded cluster in a scratch folder, its supervisor running, as `serve`
    /// has it (a spool in the folder).
    static func withSupervisedDatabase(
        _ label: String, _ body: (URL, NodeDatabase, EmbeddedPostgres) async throws -> Void
    ) async throws {
        let root = Self.folder(label)
        defer { try? FileManager.default.removeItem(at: root) }
        var options = EventStore.Options()
        options.spool = .init(directory: root.appendingPathComponent("spool"))
        options.spoolAfter = .seconds(1)
        options.pollInterval = .milliseconds(250)
        let database = try await NodeDatabase.open(url: nil, dataDirectory: root, options: options, logger: TestDatabase.logger)
        let cluster = try #require(database.cluster)
        let supervising = Task { try await database.run() }
        defer {
            supervising.cancel()
            Task { await database.close() }
        }
        try await body(root, database, cluster)
    }

    static func killUnderAPublish(root: URL, database: NodeDatabase, cluster: EmbeddedPostgres) async throws {
        let store = database.store
        let media = root.appendingPathComponent("media")
        let platform = try await Platform(
            store: store, configuration: GatewayConfiguration(host: "127.0.0.1", adminToken: "t", rtmpPort: 0, srtPort: 0),
            media: .init(directory: media), logger: TestDatabase.logger)
        platform.start()
        defer { Task { await platform.shutdown() } }
        let (_, key) = try await platform.channels.create(name: "demo", metadata: EventMetadata(actor: .admin))
        async let publishing = Subprocess.runDetached(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "18",
                "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-f", "flv",
                "rtmp://127.0.0.1:\(platform.rtmpPort)/live/\(key.text)",
            ])
        var live: [LiveSessionSummary] = []
        let started = ContinuousClock.now + .seconds(20)
        while live.isEmpty, ContinuousClock.now < started {
            try await Task.sleep(for: .milliseconds(200))
            live = await platform.rtmp.registry.list()
        }
        let session = try #require(live.first).id.uuidString.lowercased()
        try await Task.sleep(for: .seconds(5))

        let port = try #require(cluster.recordedPort())
        let pid = try #require(cluster.postmasterPID())
        kill(pid, SIGKILL)
        let holder = try #require(PortHolder(port: port), "took the database's port")
        try await Task.sleep(for: .seconds(5))
        let liveDuringOutage = platform.pipeline.sessions.count
        #expect(!store.isDatabaseReachable, "the node noticed and spooled")
        holder.release()
        let ffmpeg = try await publishing
        #expect(ffmpeg.status == 0, "the publish ran to its end: \(ffmpeg.output)")
        #expect(liveDuringOutage == 1, "the stream stayed live through the outage")

        var log: [RecordedEvent] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if store.isDatabaseReachable {
                log = (try? await store.read(after: 0, limit: 100_000)) ?? []
                let types = Set(log.map(\.eventType))
                if types.isSuperset(of: ["RecordingFinalized", "DatabaseOutage"]) { break }
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(cluster.postmasterPID() != nil && cluster.postmasterPID() != pid, "the supervisor restarted the postmaster")
        let types = log.map(\.eventType)
        #expect(types.filter { $0 == "StreamEnded" }.count == 1)
        #expect(types.filter { $0 == "RecordingFinalized" }.count == 1)
        #expect(types.filter { $0 == "DatabaseOutage" }.count == 1)
        let ids = log.map(\.eventId)
        #expect(Set(ids).count == ids.count, "nothing twice")
        let registry = EventRegistry.platform
        let published = try log.filter { $0.eventType == "SegmentPublished" }.map { try registry.decode($0, as: SegmentPublished.self) }
        let renditions = try FileManager.default.contentsOfDirectory(atPath: media.appendingPathComponent(session).path)
        #expect(!renditions.isEmpty)
        for rendition in renditions {
            let files = try FileManager.default.contentsOfDirectory(
                atPath: media.appendingPathComponent(session).appendingPathComponent(rendition).path
            )
            .filter { $0.hasPrefix("s") && $0.hasSuffix(".m4s") }
            let events = published.flatMap { event in event.renditions.filter { $0.rendition == rendition }.map { _ in event.mediaSequence }
            }
            #expect(events.count == files.count, "\(rendition): \(events.count) SegmentPublished for \(files.count) segment files")
            #expect(Set(events).count == events.count)
        }
        let outage = try registry.decode(try #require(log.first { $0.eventType == "DatabaseOutage" }), as: DatabaseOutage.self)
        #expect(outage.cause.contains("postmaster is gone"), "\(outage.cause)")
        // 5 s away: a segment event every 2 s for the whole ladder (statistics go in 10 s windows).
        #expect(outage.spooledEvents >= 2 && outage.refused == 0, "\(outage)")
        let verified = try await HashChainVerifier(store: store).verify()
        if case .verified = verified {} else { Issue.record("hash chain: \(verified)") }
    }

    /// A postmaster killed and restarted by the supervisor before anything had to be spooled is
    /// still an outage on record, with how it ended.
    @Test(.timeLimit(.minutes(2))) func aRestartTheSpoolNeverSawIsRecorded() async throws {
        try await Self.withSupervisedDatabase("restart") { _, database, cluster in
            try await Self.killWithoutAnOutage(database: database, cluster: cluster)
        }
    }

    static func killWithoutAnOutage(database: NodeDatabase, cluster: EmbeddedPostgres) async throws {
        let pid = try #require(cluster.postmasterPID())
        kill(pid, SIGKILL)
        var outages: [RecordedEvent] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while outages.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            outages = (try? await database.store.read(after: 0, filter: EventFilter(types: ["DatabaseOutage"]))) ?? []
        }
        let outage = try EventRegistry.platform.decode(try #require(outages.first), as: DatabaseOutage.self)
        #expect(outage.cause.contains("postmaster is gone"), "\(outage.cause)")
        #expect(outage.spooledEvents == 0 && outage.endedAt >= outage.startedAt)
        #expect(database.store.isDatabaseReachable)
    }

    /// `serve` waits for a database that does not answer yet, and starts once it does.
    @Test(.timeLimit(.minutes(2))) func anUnreachableDatabaseAtStartIsWaitedFor() async throws {
        let root = Self.folder("wait")
        let cluster = try EmbeddedPostgres(dataDirectory: root, database: "postgres", durable: false, logger: TestDatabase.logger)
        defer {
            cluster.stop()
            try? FileManager.default.removeItem(at: root)
        }
        let (url, _) = try cluster.start()
        cluster.stop()
        let opened = Task {
            try await NodeDatabase.open(
                url: url.urlString, dataDirectory: root, waitForDatabase: true, logger: TestDatabase.logger)
        }
        try await Task.sleep(for: .seconds(3))
        _ = try await onThread { try cluster.start() }
        let database = try await opened.value
        #expect(try await database.store.headPosition() == 0)
        await database.close()

        // A command does not wait: it says what is wrong at once.
        cluster.stop()
        await #expect(throws: EventStoreError.self) {
            try await NodeDatabase.open(url: url.urlString, dataDirectory: root, logger: TestDatabase.logger)
        }
    }
}
