import Foundation
import TestSupport
import Testing

@testable import EventStore

/// The spool against a real PostgreSQL: what an earlier run left is replayed once, in order, with
/// duplicates, conflicts and damage accounted for; and a restart of the database under a writer
/// loses nothing.
@Suite struct SpoolReplayTests {
    static var registry: EventRegistry {
        var registry = EventRegistry.test
        registry.registerLogEvents()
        return registry
    }

    @Test(.timeLimit(.minutes(2))) func leftoversReplayOnceWithConflictsAndDamageRecorded() async throws {
        let url = try await TestDatabase.freshDatabase("spool")
        let directory = SpoolTests.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try await EventStore.open(url: url, registry: Self.registry, logger: TestDatabase.logger)
        let committed = try NewEvent(Counted(writer: "a", n: 0), metadata: testActor)
        _ = try await first.append(to: "s-a", expectedVersion: .noStream, events: [committed])
        await first.shutdown()

        // What a run that lost its database left behind: its first append did commit before the
        // connection broke (a duplicate now), one expects a version the stream no longer has, one
        // asked to be appended anyway, and the second file ends in a torn write.
        func record(_ stream: String, _ expected: ExpectedVersion, _ policy: SpoolConflictPolicy, _ events: [NewEvent]) throws -> Data {
            try EventCoding.encoder().encode(
                SpooledAppend(stream: stream, expected: expected, onConflict: policy, events: events, spooledAt: Date()))
        }
        let conflicting = try NewEvent(Counted(writer: "a", n: 1), metadata: testActor)
        let anyway = try NewEvent(Counted(writer: "a", n: 2), metadata: testActor)
        let plain = try (0..<5).map { try NewEvent(Counted(writer: "b", n: $0), metadata: testActor) }
        let spool = try EventSpool(configuration: .init(directory: directory), logger: TestDatabase.logger)
        try await spool.write(try record("s-a", .noStream, .record, [committed]))
        try await spool.write(try record("s-a", .exact(5), .record, [conflicting]))
        try await spool.write(try record("s-a", .exact(5), .appendAnyway, [anyway]))
        for event in plain.prefix(3) { try await spool.write(try record("s-b", .any, .record, [event])) }
        _ = await spool.seal()
        for event in plain.suffix(2) { try await spool.write(try record("s-b", .any, .record, [event])) }
        spool.close()
        let segments = try EventSpool.segments(in: directory)
        #expect(segments.count == 2)
        let handle = try FileHandle(forWritingTo: segments[1].url)
        try handle.seekToEnd()
        try handle.write(contentsOf: SpoolFrame.encode(Data("torn".utf8)).prefix(9))
        try handle.close()

        var options = EventStore.Options()
        options.spool = .init(directory: directory)
        let store = try await EventStore.open(url: url, registry: Self.registry, options: options, logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }
        #expect(store.isDatabaseReachable)
        #expect(try EventSpool.segments(in: directory).isEmpty)
        let kept = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".damaged") }
        #expect(kept.count == 1, "the damaged file is kept beside the spool")

        var log: [RecordedEvent] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            log = try await store.read(after: 0, limit: 1_000)
            if log.contains(where: { $0.eventType == DatabaseOutage.eventType }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let ids = log.map(\.eventId)
        #expect(Set(ids).count == ids.count, "nothing is in the log twice")
        #expect(ids.filter { $0 == committed.eventId }.count == 1)
        #expect(!ids.contains(conflicting.eventId), "a conflicting append is not appended")
        #expect(ids.contains(anyway.eventId), "appendAnyway is appended at the stream's end")
        #expect(plain.allSatisfy { ids.contains($0.eventId) }, "the intact prefix of the damaged file is replayed")
        #expect(log.filter { $0.streamId == "s-b" }.map(\.eventId) == plain.map(\.eventId), "in the order they were spooled")

        let conflict = try #require(log.first { $0.eventType == SpooledAppendConflicted.eventType })
        let kept0 = try Self.registry.decode(conflict, as: SpooledAppendConflicted.self)
        #expect(kept0.stream == "s-a" && kept0.actualVersion == 1 && kept0.events.map(\.eventId) == [conflicting.eventId])
        #expect(kept0.events[0].data == conflicting.data, "the refused event is kept whole")
        let damaged = try Self.registry.decode(try #require(log.first { $0.eventType == SpoolDamaged.eventType }), as: SpoolDamaged.self)
        #expect(damaged.replayedRecords == 2 && damaged.bytes == 9)
        let outage = try Self.registry.decode(try #require(log.first { $0.eventType == DatabaseOutage.eventType }), as: DatabaseOutage.self)
        #expect(outage.duplicates == 1 && outage.conflicts == 1 && outage.spooledAppends == 8)
        #expect(outage.cause.contains("earlier run"))
        let replayed = try #require(log.first { $0.eventId == plain[0].eventId })
        #expect(replayed.metadata.spooledAt != nil)
    }

    /// `pg_ctl stop -m fast` and a start a few seconds later, under a writer at the chat bench's
    /// rate, a confirmed append during the outage, and a subscriber.
    @Test(.timeLimit(.minutes(3))) func anExternalRestartLosesNothingAndDuplicatesNothing() async throws {
        let root = SpoolTests.folder()
        let cluster = try EmbeddedPostgres(
            dataDirectory: root.appendingPathComponent("db"), database: "postgres", durable: true, logger: TestDatabase.logger)
        defer {
            cluster.stop()
            try? FileManager.default.removeItem(at: root)
        }
        let (url, _) = try cluster.start()
        var options = EventStore.Options()
        options.pollInterval = .milliseconds(200)
        options.spool = .init(directory: root.appendingPathComponent("spool"))
        let store = try await EventStore.open(url: url, registry: Self.registry, options: options, logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }

        let writer = Task { () -> (acked: [UUID], spooled: Int, failed: [String]) in
            var acked: [UUID] = [], spooled = 0, failed: [String] = []
            var n = 0
            while !Task.isCancelled {
                let event = try NewEvent(Counted(writer: "w", n: n), metadata: testActor)
                do {
                    let result = try await store.append(
                        to: "chat-\(n % 3)", expectedVersion: .any, events: [event], durability: .spoolable)
                    acked.append(event.eventId)
                    if result.spooled { spooled += 1 }
                } catch {
                    failed.append("\(error)")
                }
                n += 1
                try? await Task.sleep(for: .milliseconds(5))
            }
            return (acked, spooled, failed)
        }
        try await Task.sleep(for: .seconds(1))
        await onThread { cluster.stop() }
        try await Task.sleep(for: .seconds(2))
        #expect(!store.isDatabaseReachable, "appends went to the spool")
        do {
            _ = try await store.append(
                to: "channel-x", expectedVersion: .any, events: [try NewEvent(Counted(writer: "admin", n: 0), metadata: testActor)])
            Issue.record("a confirmed append during the outage should fail")
        } catch {
            #expect("\(error)".contains("away since"), "it says the database is away: \(error)")
        }
        try await Task.sleep(for: .seconds(2))
        _ = try await onThread { try cluster.start() }
        let back = ContinuousClock.now + .seconds(60)
        while !store.isDatabaseReachable, ContinuousClock.now < back { try await Task.sleep(for: .milliseconds(100)) }
        try await Task.sleep(for: .seconds(1))
        writer.cancel()
        let outcome = try await writer.value
        #expect(store.isDatabaseReachable)
        #expect(outcome.failed.isEmpty, "no spoolable append failed: \(outcome.failed.prefix(3))")
        #expect(outcome.spooled > 50, "the outage's appends were spooled: \(outcome.spooled)")

        var log: [RecordedEvent] = []
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            log = try await store.read(after: 0, limit: 100_000)
            if log.contains(where: { $0.eventType == DatabaseOutage.eventType }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let ids = log.filter { $0.eventType == "TestCounted" }.map(\.eventId)
        #expect(Set(ids).count == ids.count, "no event is in the log twice")
        #expect(Set(outcome.acked) == Set(ids), "every acknowledged append is in the log, and nothing else")
        #expect(log.map(\.position) == Array(1...Int64(log.count)))
        for stream in ["chat-0", "chat-1", "chat-2"] {
            let ns = try log.filter { $0.streamId == stream }.map { try Self.registry.decode($0, as: Counted.self).n }
            #expect(ns == ns.sorted(), "\(stream) keeps the order its appends were made in")
        }
        // A slow commit right after the restart may start a second, short outage of its own.
        let outages = try log.filter { $0.eventType == DatabaseOutage.eventType }.map {
            try Self.registry.decode($0, as: DatabaseOutage.self)
        }
        #expect(outages.first.map { $0.endedAt.timeIntervalSince($0.startedAt) > 2 } == true)
        #expect(outages.reduce(0) { $0 + $1.spooledAppends } >= outcome.spooled)
    }
}
