import Foundation
import TestSupport
import Testing

@testable import EventStore

/// The reads an auditor uses: whole streams of any length, exact streams, positions, causality.
@Suite struct ReadQueryTests {
    @Test func aStreamOf50000EventsReadsWhole() async throws {
        let store = try await TestDatabase.makeStore("longstream", registry: .test)
        defer { Task { await store.shutdown() } }
        var version: Int64 = 0
        for batch in 0..<25 {
            let events = try (1...2_000).map { try NewEvent(Counted(writer: "s", n: batch * 2_000 + $0), metadata: testActor) }
            version = try await store.append(
                to: "session-long", expectedVersion: version == 0 ? .noStream : .exact(version), events: events
            )
            .streamVersion
        }
        _ = try await store.append(Counted(writer: "other", n: 1), to: "session-long2", metadata: testActor)
        let events = try await store.readStream("session-long")
        #expect(events.count == 50_000)
        #expect(events.first?.streamVersion == 1)
        #expect(events.last?.streamVersion == 50_000)
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.streamVersion + 1 == $1.streamVersion })
        #expect(try await store.readStream("session-long", fromVersion: 49_990).map(\.streamVersion) == Array(49_990...50_000))
        #expect(try await store.readStream("session-long", limit: 7_500).count == 7_500)
        var pages = 0
        var total = 0
        for try await page in store.streamPages("session-long", pageSize: 20_000) {
            pages += 1
            total += page.count
        }
        #expect(pages == 3)
        #expect(total == 50_000)
    }

    @Test func exactStreamPositionsBackwardsAndCounts() async throws {
        let store = try await TestDatabase.makeStore("exact", registry: .test)
        defer { Task { await store.shutdown() } }
        _ = try await store.append(Counted(writer: "a", n: 1), to: "channel-demo", metadata: testActor)
        _ = try await store.append(Counted(writer: "a", n: 2), to: "channel-demo2", metadata: testActor)
        _ = try await store.append(Counted(writer: "a", n: 3), to: "channel-demo", metadata: testActor)
        _ = try await store.append(Counted(writer: "a", n: 4), to: "channel-demo_x", metadata: testActor)
        let cases: [(EventFilter, [Int64])] = [
            (EventFilter(stream: "channel-demo"), [1, 3]), (EventFilter(streamPrefix: "channel-demo"), [1, 2, 3, 4]),
            (EventFilter(streamPrefix: "channel-demo_"), [4]), (EventFilter(toPosition: 2), [1, 2]),
            (EventFilter(stream: "channel-demo", toPosition: 2), [1]),
        ]
        for (filter, positions) in cases {
            #expect(try await store.read(after: 0, filter: filter).map(\.position) == positions, "\(filter)")
            let events = try await store.read(after: 0, limit: 10)
            #expect(events.filter(filter.matches).map(\.position) == positions, "in memory: \(filter)")
        }
        #expect(try await store.read(before: .max, limit: 1, filter: EventFilter(stream: "channel-demo")).map(\.position) == [3])
        #expect(try await store.read(before: 3, filter: EventFilter(streamPrefix: "channel-")).map(\.position) == [2, 1])
        #expect(try await store.count(after: 0, filter: EventFilter(stream: "channel-demo")) == 2)
        #expect(try await store.count(after: 1) == 3)
        #expect(try await store.event(at: 2)?.streamId == "channel-demo2")
        #expect(try await store.event(at: 5) == nil)
        #expect(try await store.event(at: 0) == nil)
    }

    @Test func traceFollowsCorrelationAndCausationBothWays() async throws {
        let store = try await TestDatabase.makeStore("trace", registry: .test)
        defer { Task { await store.shutdown() } }
        let request = UUID()
        let (revoked, kick, ended, unrelated, sibling) = (UUID(), UUID(), UUID(), UUID(), UUID())
        func append(_ id: UUID, _ stream: String, correlation: UUID? = nil, cause: UUID? = nil) async throws {
            _ = try await store.append(
                to: stream, expectedVersion: .any,
                events: [
                    try NewEvent(
                        Counted(writer: stream, n: 1),
                        metadata: EventMetadata(actor: .admin, correlationId: correlation, causationId: cause),
                        eventId: id)
                ])
        }
        try await append(revoked, "channel-demo", correlation: request)  // 1
        try await append(unrelated, "channel-other")  // 2
        try await append(kick, "session-a", cause: revoked)  // 3
        try await append(sibling, "chat-demo", correlation: request)  // 4
        try await append(ended, "session-a", cause: kick)  // 5
        #expect(try await store.events(causedBy: [revoked, kick]).map(\.position) == [3, 5])
        #expect(try await store.read(after: 0, filter: EventFilter(causationId: kick)).map(\.position) == [5])
        // From the end of the chain: up to the revocation, across to what shares its correlation.
        let fromEnd = try #require(try await EventTrace.trace(5, in: store))
        #expect(fromEnd.nodes.map(\.event.position) == [1, 3, 5, 4])
        #expect(fromEnd.nodes.map(\.depth) == [0, 1, 2, 0])
        let text = fromEnd.render()
        #expect(text.contains("* "))
        #expect(text.contains("#5"))
        #expect(!text.contains("#2 "))
        // From the sibling: the same story by its correlation id.
        #expect(try await EventTrace.trace(4, in: store)?.nodes.map(\.event.position) == [1, 3, 5, 4])
        #expect(try await EventTrace.trace(2, in: store)?.nodes.map(\.event.position) == [2])
        #expect(try await EventTrace.trace(9, in: store) == nil)
    }

    @Test func causalityLookupsUseTheirIndexes() async throws {
        let store = try await TestDatabase.makeStore("traceidx", registry: .test)
        defer { Task { await store.shutdown() } }
        // A tiny table is scanned whole anyway: forbid that, for new connections to this database.
        try await SQL.execute(store.url, "ALTER DATABASE \"\(store.url.database)\" SET enable_seqscan = off")
        let plan = try await SQL.column(
            store.url,
            """
            EXPLAIN SELECT position FROM events
            WHERE upper(metadata->>'causationId') = ANY('{A}'::text[]) AND metadata->>'causationId' IS NOT NULL
            """)
        let correlation = try await SQL.column(
            store.url,
            """
            EXPLAIN SELECT position FROM events
            WHERE upper(metadata->>'correlationId') = 'A' AND metadata->>'correlationId' IS NOT NULL
            """)
        #expect(correlation.joined(separator: "\n").contains("events_correlation_idx"))
        #expect(plan.joined(separator: "\n").contains("events_causation_idx"))
    }
}
