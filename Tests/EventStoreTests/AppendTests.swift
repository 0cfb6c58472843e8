import Foundation
import TestSupport
import Testing

@testable import EventStore

@Suite struct AppendTests {
    @Test func appendsAndReadsBackInOrder() async throws {
        let store = try await TestDatabase.makeStore("append", registry: .test)
        defer { Task { await store.shutdown() } }
        let first = try await store.append(Counted(writer: "a", n: 1), to: "test-a", expectedVersion: .noStream, metadata: testActor)
        #expect(first.positions == [1])
        #expect(first.streamVersion == 1)
        let more = try await store.append(
            to: "test-a", expectedVersion: .exact(1),
            events: [
                try NewEvent(Counted(writer: "a", n: 2), metadata: testActor),
                try NewEvent(Counted(writer: "a", n: 3), metadata: testActor),
            ])
        #expect(more.positions == [2, 3])
        #expect(more.streamVersion == 3)
        let events = try await store.readStream("test-a")
        #expect(events.map(\.streamVersion) == [1, 2, 3])
        let decoded = try events.map { try store.registry.decode($0, as: Counted.self).n }
        #expect(decoded == [1, 2, 3])
        #expect(events[0].metadata.actor == .system("tests"))
        #expect(try await store.headPosition() == 3)
    }

    @Test func wrongExpectedVersionFailsWithTheActualVersion() async throws {
        let store = try await TestDatabase.makeStore("conflict", registry: .test)
        defer { Task { await store.shutdown() } }
        _ = try await store.append(Counted(writer: "a", n: 1), to: "test-a", expectedVersion: .noStream, metadata: testActor)
        await #expect(throws: EventStoreError.wrongExpectedVersion(stream: "test-a", expected: .noStream, actual: 1)) {
            try await store.append(Counted(writer: "a", n: 2), to: "test-a", expectedVersion: .noStream, metadata: testActor)
        }
        await #expect(throws: EventStoreError.wrongExpectedVersion(stream: "test-a", expected: .exact(5), actual: 1)) {
            try await store.append(Counted(writer: "a", n: 2), to: "test-a", expectedVersion: .exact(5), metadata: testActor)
        }
        #expect(try await store.headPosition() == 1)
    }

    @Test func retryWithSameIdsIsIdempotent() async throws {
        let store = try await TestDatabase.makeStore("idem", registry: .test)
        defer { Task { await store.shutdown() } }
        let events = [
            try NewEvent(Counted(writer: "a", n: 1), metadata: testActor), try NewEvent(Counted(writer: "a", n: 2), metadata: testActor),
        ]
        _ = try await store.append(Counted(writer: "z", n: 0), to: "test-z", metadata: testActor)
        let original = try await store.append(to: "test-a", expectedVersion: .noStream, events: events)
        let retry = try await store.append(to: "test-a", expectedVersion: .noStream, events: events)
        #expect(original.positions == [2, 3])
        #expect(retry.positions == original.positions)
        #expect(retry.wasDuplicate)
        #expect(try await store.headPosition() == 3)
        // The same ids elsewhere are a conflict, not a silent success.
        await #expect(throws: EventStoreError.self) {
            try await store.append(to: "test-b", expectedVersion: .any, events: events)
        }
    }

    @Test func concurrentAppendsAreGroupCommittedAndConflictsStayLocal() async throws {
        let store = try await TestDatabase.makeStore("group", registry: .test)
        defer { Task { await store.shutdown() } }
        // 400 appends to distinct streams plus 50 racing for one stream's first version.
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for i in 0..<400 {
                group.addTask {
                    (try? await store.append(Counted(writer: "w", n: i), to: "test-\(i)", expectedVersion: .noStream, metadata: testActor))
                        != nil
                }
            }
            for i in 0..<50 {
                group.addTask {
                    (try? await store.append(
                        Counted(writer: "race", n: i), to: "test-race", expectedVersion: .noStream, metadata: testActor)) != nil
                }
            }
            var results: [Bool] = []
            for await ok in group { results.append(ok) }
            return results
        }
        #expect(outcomes.filter { $0 }.count == 401)
        #expect(try await store.headPosition() == 401)
        let transactions = await store.appendTransactions()
        #expect(transactions < 200, "450 appends took \(transactions) transactions")
    }

    /// The committer hashes batches itself once it knows the head and the streams' versions, and
    /// falls back to the database's hashing whenever a guess is wrong (a second store writing, a
    /// conflict, a retry); every way, `verify` recomputes the same chain from the stored rows.
    @Test func committerHashesMatchTheDatabasesAndWrongGuessesFallBack() async throws {
        let store = try await TestDatabase.makeStore("hashing", registry: .test)
        defer { Task { await store.shutdown() } }
        let other = try await EventStore.open(url: store.url, registry: .test, logger: TestDatabase.logger)
        defer { Task { await other.shutdown() } }
        // Text whose canonical bytes are easy to get wrong: non-ASCII, escapes, odd spacing.
        let awkward = [#"{"text":"grüße 🎥 \"q\" \\ \u00e9","n":1}"#, #"{ "spaced" : [1, 2.50, -0, 1e3] }"#, "[]", #""plain""#]
        var appended = 0
        for round in 0..<6 {
            for (i, data) in awkward.enumerated() {
                let event = NewEvent(eventType: "TestAwkward", schemaVersion: 1, data: data, metadata: testActor)
                _ = try await store.append(to: "test-awkward-\(i)", expectedVersion: .any, events: [event])
                appended += 1
            }
            // Concurrent appends in one batch, some to the same stream.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<20 {
                    group.addTask { _ = try await store.append(Counted(writer: "g", n: i), to: "test-g-\(i % 3)", metadata: testActor) }
                }
                try await group.waitForAll()
            }
            appended += 20
            if round == 2 {
                // Another writer moves the head and a known stream's version behind this one's back.
                _ = try await other.append(Counted(writer: "other", n: 0), to: "test-g-0", metadata: testActor)
                appended += 1
            }
            if round == 4 {
                await #expect(throws: EventStoreError.self) {
                    try await store.append(Counted(writer: "c", n: 0), to: "test-g-1", expectedVersion: .noStream, metadata: testActor)
                }
            }
        }
        let read = try await store.read(after: 0, limit: 1_000)
        #expect(read.count == appended)
        #expect(read.first { $0.eventType == "TestAwkward" }?.dataText == awkward[0], "json keeps the text as sent")
        let transactions = await store.appendTransactions()
        let hashed = await store.hashedAppendTransactions()
        #expect(hashed > transactions / 2, "\(hashed) of \(transactions) transactions hashed by the committer")
        #expect(hashed < transactions, "first appends to a stream and wrong guesses are hashed by the database")
        #expect(try await HashChainVerifier(store: store).verify() == .verified(count: Int64(appended)))
    }

    @Test func upcastsOldSchemaVersions() async throws {
        let store = try await TestDatabase.makeStore("upcast", registry: .test)
        defer { Task { await store.shutdown() } }
        _ = try await store.append(RenamedV1(title: "old"), to: "test-r", metadata: testActor)
        _ = try await store.append(Renamed(name: "new", tags: ["x"]), to: "test-r", metadata: testActor)
        let events = try await store.readStream("test-r")
        #expect(events.map(\.schemaVersion) == [1, 2])
        let decoded = try events.map { try store.registry.decode($0, as: Renamed.self) }
        #expect(decoded == [Renamed(name: "old", tags: []), Renamed(name: "new", tags: ["x"])])
    }

    @Test func readsFilterByPrefixTypeAndTime() async throws {
        let store = try await TestDatabase.makeStore("filter", registry: .test)
        defer { Task { await store.shutdown() } }
        let before = Date().addingTimeInterval(-1)
        _ = try await store.append(Counted(writer: "a", n: 1), to: "chat-x", metadata: testActor)
        _ = try await store.append(Renamed(name: "n", tags: []), to: "chat_y", metadata: testActor)
        _ = try await store.append(Counted(writer: "a", n: 2), to: "channel-x", metadata: testActor)
        #expect(try await store.read(after: 0, filter: EventFilter(streamPrefix: "chat-")).map(\.position) == [1])
        #expect(try await store.read(after: 0, filter: EventFilter(types: ["TestCounted"])).map(\.position) == [1, 3])
        #expect(try await store.read(after: 1, limit: 1).map(\.position) == [2])
        #expect(try await store.read(after: 0, filter: EventFilter(since: before)).count == 3)
        #expect(try await store.read(after: 0, filter: EventFilter(until: before)).isEmpty)
    }

    @Test func readsFilterByActorAndCorrelation() async throws {
        let store = try await TestDatabase.makeStore("actor", registry: .test)
        defer { Task { await store.shutdown() } }
        let correlation = UUID()
        _ = try await store.append(
            Counted(writer: "a", n: 1), to: "test-a", metadata: EventMetadata(actor: .admin, correlationId: correlation))
        _ = try await store.append(Counted(writer: "a", n: 2), to: "test-a", metadata: EventMetadata(actor: EventActor(.user, id: "u1")))
        _ = try await store.append(Counted(writer: "a", n: 3), to: "test-a", metadata: EventMetadata(actor: EventActor(.user, id: "u2")))
        let filters: [(EventFilter, [Int64])] = [
            (EventFilter(actor: "admin"), [1]), (EventFilter(actor: "user"), [2, 3]), (EventFilter(actor: "user:u2"), [3]),
            (EventFilter(correlationId: correlation), [1]), (EventFilter(actor: "user", correlationId: correlation), []),
        ]
        for (filter, positions) in filters {
            #expect(try await store.read(after: 0, filter: filter).map(\.position) == positions, "\(filter)")
            // Reads at the head, answered from the node's own recent commits, apply the same rule.
            let events = try await store.read(after: 0, limit: 10)
            #expect(events.filter(filter.matches).map(\.position) == positions, "in memory: \(filter)")
        }
    }

    @Test func databaseRefusesUpdateAndDelete() async throws {
        let store = try await TestDatabase.makeStore("immut", registry: .test)
        defer { Task { await store.shutdown() } }
        _ = try await store.append(Counted(writer: "a", n: 1), to: "test-a", metadata: testActor)
        await #expect(throws: (any Error).self) { try await SQL.execute(store.url, "UPDATE events SET stream_id = 'x'") }
        await #expect(throws: (any Error).self) { try await SQL.execute(store.url, "DELETE FROM events") }
        await #expect(throws: (any Error).self) { try await SQL.execute(store.url, "TRUNCATE events") }
        #expect(try await SQL.column(store.url, "SELECT count(*)::text FROM events") == ["1"])
    }
}
