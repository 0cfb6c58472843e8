import Foundation
import TestSupport
import Testing

@testable import EventStore

/// The live readers' memory of this node's newest commits (sans-I/O), and, against PostgreSQL,
/// that what it serves is what the log holds.
@Suite struct RecentEventsTests {
    static func event(_ position: Int64, stream: String = "chat-a", type: String = "T", at seconds: Double = 0) -> RecordedEvent {
        RecordedEvent(
            position: position, streamId: stream, streamVersion: position, eventId: UUID(), eventType: type, schemaVersion: 1,
            data: Data("{}".utf8), metadata: testActor, recordedAt: Date(timeIntervalSince1970: seconds), hash: [UInt8(position & 0xFF)])
    }

    @Test func answersOnlyWhenItsRunCoversEverythingAfterTheReader() {
        let recent = RecentEvents(capacity: 100)
        #expect(recent.read(after: 0, limit: 10, filter: .all) == nil)
        recent.committed((11...15).map { Self.event($0) })
        // Before the run: the database has what the reader needs first.
        #expect(recent.read(after: 9, limit: 10, filter: .all) == nil)
        #expect(recent.read(after: 10, limit: 10, filter: .all)?.map(\.position) == [11, 12, 13, 14, 15])
        #expect(recent.read(after: 13, limit: 10, filter: .all)?.map(\.position) == [14, 15])
        #expect(recent.read(after: 12, limit: 2, filter: .all)?.map(\.position) == [13, 14])
        #expect(recent.read(after: 15, limit: 10, filter: .all) == [])
        // Consecutive batches extend the run.
        recent.committed((16...17).map { Self.event($0) })
        #expect(recent.read(after: 10, limit: 10, filter: .all)?.count == 7)
        // Another node committed 18: until this node's run reaches it, the database answers.
        recent.noteHead(18)
        #expect(recent.read(after: 15, limit: 10, filter: .all) == nil)
        #expect(recent.read(after: 17, limit: 10, filter: .all) == nil)
        // This node's next batch follows a hole (18): a new run, which serves readers from 18 on only.
        recent.committed((19...20).map { Self.event($0) })
        #expect(recent.read(after: 17, limit: 10, filter: .all) == nil)
        #expect(recent.read(after: 18, limit: 10, filter: .all)?.map(\.position) == [19, 20])
    }

    /// A page says how far it looked, so a reader whose filter matches little goes on from there.
    @Test func aPageSaysHowFarItLooked() throws {
        let recent = RecentEvents(capacity: 100)
        recent.committed((11...16).map { Self.event($0, type: $0 % 3 == 0 ? "Rare" : "T") })
        let rare = EventFilter(types: ["Rare"])
        let all = try #require(recent.page(after: 10, limit: 10, filter: rare))
        #expect(all.events.map(\.position) == [12, 15] && all.through == 16, "a short page looked to the run's end")
        let full = try #require(recent.page(after: 10, limit: 1, filter: rare))
        #expect(full.events.map(\.position) == [12] && full.through == 12, "a full page looked as far as its last event")
        let none = try #require(recent.page(after: 15, limit: 10, filter: rare))
        #expect(none.events.isEmpty && none.through == 16)
        let atEnd = try #require(recent.page(after: 16, limit: 10, filter: rare))
        #expect(atEnd.events.isEmpty && atEnd.through == 16)
    }

    @Test func keepsTheNewestCapacityEvents() {
        let recent = RecentEvents(capacity: 8)
        for start in stride(from: Int64(1), through: 97, by: 4) {
            recent.committed((start..<start + 4).map { Self.event($0) })
        }
        #expect(recent.read(after: 91, limit: 100, filter: .all) == nil)
        #expect(recent.read(after: 92, limit: 100, filter: .all)?.map(\.position) == Array(93...100))
    }

    @Test func forgetsBatchesOlderThanItsMaximumAgeButNeverTheNewest() {
        let recent = RecentEvents(capacity: 1_000, maxAge: .seconds(10))
        let start = ContinuousClock.now
        recent.committed((1...3).map { Self.event($0) }, now: start)
        recent.committed((4...5).map { Self.event($0) }, now: start + .seconds(5))
        #expect(recent.read(after: 0, limit: 10, filter: .all)?.map(\.position) == [1, 2, 3, 4, 5])
        // 11 s after the first batch it is gone; the second stays.
        recent.committed([Self.event(6)], now: start + .seconds(11))
        #expect(recent.read(after: 0, limit: 10, filter: .all) == nil)
        #expect(recent.read(after: 3, limit: 10, filter: .all)?.map(\.position) == [4, 5, 6])
        // Long quiet: everything but the newest batch leaves.
        recent.committed([Self.event(7)], now: start + .seconds(60))
        #expect(recent.read(after: 5, limit: 10, filter: .all) == nil)
        #expect(recent.read(after: 6, limit: 10, filter: .all)?.map(\.position) == [7])
    }

    @Test func filtersAsTheSQLDoes() {
        let recent = RecentEvents()
        recent.committed([
            Self.event(1, stream: "chat-a", type: "A", at: 10), Self.event(2, stream: "chat_b", type: "A", at: 20),
            Self.event(3, stream: "chat-b", type: "B", at: 30), Self.event(4, stream: "channel-x", type: "A", at: 40),
        ])
        #expect(recent.read(after: 0, limit: 9, filter: EventFilter(streamPrefix: "chat-"))?.map(\.position) == [1, 3])
        #expect(recent.read(after: 0, limit: 9, filter: EventFilter(types: ["A"]))?.map(\.position) == [1, 2, 4])
        let window = EventFilter(since: Date(timeIntervalSince1970: 20), until: Date(timeIntervalSince1970: 40))
        #expect(recent.read(after: 0, limit: 9, filter: window)?.map(\.position) == [2, 3])
        #expect(recent.read(after: 0, limit: 1, filter: EventFilter(streamPrefix: "chat-", types: ["B"]))?.map(\.position) == [3])
    }

    /// A node that appends and subscribes while another node appends too: the subscription gets
    /// every position once, in order, and each event exactly as the database returns it (hash,
    /// time, JSON text and metadata), whether it came from memory or from the database.
    @Test(.timeLimit(.minutes(2))) func whatASubscriptionServesIsWhatTheLogHolds() async throws {
        let url = try await TestDatabase.freshDatabase("recent")
        let here = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
        let there = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
        let total = 600
        let seen = Task {
            var events: [RecordedEvent] = []
            for await event in here.subscribe(after: 0, filter: .all, pageSize: 64) {
                events.append(event)
                if events.count == total { break }
            }
            return events
        }
        @Sendable func append(_ store: EventStore, _ name: String, _ range: Range<Int>) async throws {
            for i in range {
                let metadata = EventMetadata(actor: .system("tests"), reason: i % 7 == 0 ? "ünï \"quoted\"" : nil)
                let event = try NewEvent(Counted(writer: name, n: i), metadata: metadata)
                _ = try await store.append(to: "\(name)-\(i % 5)", expectedVersion: .any, events: [event])
            }
        }
        // Both nodes at once (holes in this node's runs), then this node alone (one long run).
        async let mine: Void = append(here, "here", 0..<200)
        async let theirs: Void = append(there, "there", 0..<200)
        _ = try await (mine, theirs)
        try await append(here, "here", 200..<400)
        let events = await seen.value
        #expect(events.map(\.position) == (1...Int64(total)).map { $0 })
        var stored: [RecordedEvent] = []
        while stored.count < total {
            stored += try await here.read(after: Int64(stored.count), limit: 1_000)
        }
        #expect(events == stored)
        #expect(here.recent.hits > 0)
        await here.shutdown()
        await there.shutdown()
    }

    /// A subscription whose filter matches rarely reads on from the head it last saw, not from its
    /// last match: its reads stay within this node's memory, and it still gets every match.
    @Test(.timeLimit(.minutes(2))) func aRarelyMatchingSubscriptionReadsOnFromTheHead() async throws {
        let url = try await TestDatabase.freshDatabase("recent-filter")
        let store = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
        let matches = Task {
            var seen: [String] = []
            for await event in store.subscribe(after: 0, filter: EventFilter(streamPrefix: "rare-"), pageSize: 16) {
                seen.append(event.streamId)
                if seen.count == 4 { break }
            }
            return seen
        }
        for i in 0..<300 {
            let stream = i % 100 == 50 ? "rare-\(i)" : "busy-\(i % 3)"
            _ = try await store.append(Counted(writer: "w", n: i), to: stream, metadata: testActor)
            if i % 20 == 0 { try await Task.sleep(for: .milliseconds(5)) }
        }
        let hitsBefore = store.recent.hits
        for i in 300..<400 {
            _ = try await store.append(Counted(writer: "w", n: i), to: "busy-\(i % 3)", metadata: testActor)
        }
        _ = try await store.append(Counted(writer: "w", n: 400), to: "rare-400", metadata: testActor)
        #expect(await matches.value == ["rare-50", "rare-150", "rare-250", "rare-400"])
        #expect(store.recent.hits > hitsBefore)
        await store.shutdown()
    }
}
