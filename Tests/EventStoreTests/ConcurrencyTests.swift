import EventStore
import Foundation
import TestSupport
import Testing

/// DESIGN.md §4's promise under load: many writers on separate connections and in a second OS
/// process, while a subscriber and a position poller read. Every acknowledged event is seen
/// exactly once, in one dense order, and only the version conflicts that must happen do.
@Suite struct ConcurrencyTests {
    @Test(.timeLimit(.minutes(3))) func everyAcknowledgedEventIsSeenOnceInOneDenseOrder() async throws {
        let url = try await TestDatabase.freshDatabase("conc")
        let reader = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
        defer { Task { await reader.shutdown() } }
        let writers = 8, perWriter = 1_500, processEvents = 2_000, contenders = 8, contendedAttempts = 40

        // The second process starts first and appends while everything below runs.
        let writer = try Binaries.eventStoreBench()
        async let processRun = Subprocess.runDetached(
            writer,
            [
                "append-writer", "--database-url", url.urlString, "--prefix", "proc", "--count", "\(processEvents)",
            ])

        let collector = Collector()
        let subscriber = Task {
            for await event in reader.subscribe(after: 0) {
                await collector.subscribed(event)
            }
        }
        let poller = Task {
            var position: Int64 = 0
            while !Task.isCancelled {
                let page = (try? await reader.read(after: position, limit: 700)) ?? []
                for event in page { await collector.polled(event) }
                if let last = page.last { position = last.position } else { try? await Task.sleep(for: .milliseconds(20)) }
            }
        }

        // 8 writers, each with its own connection pool: single appends and small batches to many streams.
        let acked = try await withThrowingTaskGroup(of: [UUID].self) { group in
            for writer in 0..<writers {
                group.addTask {
                    let store = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
                    var ids: [UUID] = []
                    var i = 0
                    while i < perWriter {
                        let size = i % 10 == 0 ? 5 : 1
                        let events = try (0..<size).map { k in try NewEvent(Counted(writer: "w\(writer)", n: i + k), metadata: testActor) }
                        _ = try await store.append(to: "w\(writer)-\(i % 37)", expectedVersion: .any, events: events)
                        ids += events.map(\.eventId)
                        i += size
                    }
                    await store.shutdown()
                    return ids
                }
            }
            var all: [UUID] = []
            for try await ids in group { all += ids }
            return all
        }

        // Contended stream: read the version, append expecting it; losers must see a newer version.
        let contention = try await withThrowingTaskGroup(of: (Int, Int, [UUID]).self) { group in
            for contender in 0..<contenders {
                group.addTask {
                    let store = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
                    var wins = 0, conflicts = 0
                    var ids: [UUID] = []
                    for attempt in 0..<contendedAttempts {
                        let version = try await store.readStream("hot").last?.streamVersion ?? 0
                        let event = try NewEvent(Counted(writer: "c\(contender)", n: attempt), metadata: testActor)
                        do {
                            let result = try await store.append(
                                to: "hot", expectedVersion: version == 0 ? .noStream : .exact(version), events: [event])
                            #expect(result.streamVersion == version + 1)
                            wins += 1
                            ids.append(event.eventId)
                        } catch EventStoreError.wrongExpectedVersion(_, _, let actual) {
                            #expect(actual > version, "a conflict must report a newer version")
                            conflicts += 1
                        }
                    }
                    await store.shutdown()
                    return (wins, conflicts, ids)
                }
            }
            var results: [(Int, Int, [UUID])] = []
            for try await result in group { results.append(result) }
            return results
        }

        let process = try await processRun
        #expect(process.status == 0, "append-writer failed: \(process.output.suffix(500))")
        let processAcked = process.output.split(separator: "\n").filter { $0.hasPrefix("ack ") }.compactMap {
            UUID(uuidString: String($0.split(separator: " ")[2]))
        }
        #expect(processAcked.count == processEvents)

        let wins = contention.reduce(0) { $0 + $1.0 }
        let conflicts = contention.reduce(0) { $0 + $1.1 }
        #expect(wins + conflicts == contenders * contendedAttempts)
        #expect(wins > 0)
        let hot = try await reader.readStream("hot")
        #expect(hot.map(\.streamVersion) == Array(1...Int64(wins)), "the contended stream's versions are dense: only real conflicts failed")

        let expected = Set(acked + processAcked + contention.flatMap(\.2))
        let total = expected.count
        #expect(total == writers * perWriter + processEvents + wins)
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let subscribed = await collector.subscribedCount
            let polled = await collector.polledCount
            if subscribed >= total && polled >= total { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        subscriber.cancel()
        poller.cancel()

        for (name, events) in [("subscriber", await collector.subscribedEvents), ("poller", await collector.polledEvents)] {
            #expect(events.map(\.position) == Array(1...Int64(total)), "\(name) saw a dense, ordered log")
            #expect(Set(events.map(\.eventId)) == expected, "\(name) saw exactly the acknowledged events")
        }
        #expect(try await reader.headPosition() == Int64(total))
        #expect(try await HashChainVerifier(store: reader).verify() == .verified(count: Int64(total)))
    }
}

actor Collector {
    private(set) var subscribedEvents: [RecordedEvent] = []
    private(set) var polledEvents: [RecordedEvent] = []
    var subscribedCount: Int { subscribedEvents.count }
    var polledCount: Int { polledEvents.count }
    func subscribed(_ event: RecordedEvent) { subscribedEvents.append(event) }
    func polled(_ event: RecordedEvent) { polledEvents.append(event) }
}
