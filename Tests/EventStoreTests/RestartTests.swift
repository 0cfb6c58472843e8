import EventStore
import Foundation
import TestSupport
import Testing

/// PostgreSQL stopped and started under a running writer and subscriber.
@Suite struct RestartTests {
    @Test(.timeLimit(.minutes(3))) func appendsAndSubscriptionsSurviveARestart() async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "streamd-restart-\(UUID().uuidString.prefix(8))")
        let cluster = try EmbeddedPostgres(dataDirectory: directory, database: "postgres", durable: true, logger: TestDatabase.logger)
        defer {
            cluster.stop()
            try? FileManager.default.removeItem(at: directory)
        }
        let (url, _) = try cluster.start()
        var options = EventStore.Options()
        options.pollInterval = .milliseconds(200)
        let store = try await EventStore.open(url: url, registry: .test, options: options, logger: TestDatabase.logger)
        defer { Task { await store.shutdown() } }

        let collector = Collector()
        let subscriber = Task {
            for await event in store.subscribe(after: 0) { await collector.subscribed(event) }
        }
        let writer = Task { () -> (acked: [UUID], failed: [UUID], errors: [String]) in
            var acked: [UUID] = [], failed: [UUID] = [], errors: [String] = []
            var i = 0
            while !Task.isCancelled {
                guard let event = try? NewEvent(Counted(writer: "r", n: i), metadata: testActor) else { break }
                do {
                    _ = try await store.append(to: "restart-\(i % 5)", expectedVersion: .any, events: [event])
                    acked.append(event.eventId)
                } catch {
                    failed.append(event.eventId)
                    errors.append("\(error)")
                }
                i += 1
            }
            return (acked, failed, errors)
        }
        // Some events must have gone through before the stop; on a loaded machine that can take a while.
        let firstDeadline = ContinuousClock.now + .seconds(30)
        while await collector.subscribedCount == 0, ContinuousClock.now < firstDeadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        let beforeStop = await collector.subscribedCount
        await onThread { cluster.stop() }
        try await Task.sleep(for: .seconds(1))
        _ = try await onThread { try cluster.start() }
        try await Task.sleep(for: .seconds(2))
        writer.cancel()
        let outcome = await writer.value

        #expect(beforeStop > 0)
        #expect(outcome.acked.count > beforeStop, "appends resumed after the restart")
        for error in outcome.errors {
            #expect(error.contains("retry it with the same event ids"), "a failed append says what happened: \(error)")
        }
        let head = try await store.headPosition()
        let log = try await store.read(after: 0, limit: 100_000)
        #expect(log.map(\.position) == Array(1...head))
        let logged = Set(log.map(\.eventId))
        #expect(Set(outcome.acked).isSubset(of: logged), "no acknowledged append vanished")
        #expect(logged.isSubset(of: Set(outcome.acked + outcome.failed)))

        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if await collector.subscribedCount >= Int(head) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        subscriber.cancel()
        let seen = await collector.subscribedEvents
        #expect(seen.map(\.position) == Array(1...head), "the subscription resumed with no gap and no duplicate")
    }
}
