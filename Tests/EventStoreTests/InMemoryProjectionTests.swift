import EventStore
import Foundation
import TestSupport
import Testing

/// Counts `TestCounted` events per writer, in memory, rebuilt from the log at every start.
final class CountsByWriter: InMemoryProjection, @unchecked Sendable {
    // Mutated only by the runner's serial apply calls and read after waitUntil, under the lock.
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    let filter = EventFilter(streamPrefix: "count-")

    func apply(_ event: RecordedEvent) async {
        guard let counted = try? EventRegistry.test.decode(event, as: Counted.self) else { return }
        lock.withLock { counts[counted.writer, default: 0] += 1 }
    }

    var snapshot: [String: Int] { lock.withLock { counts } }
}

@Suite struct InMemoryProjectionTests {
    @Test func rebuildsFromTheLogThenFollowsIt() async throws {
        let store = try await TestDatabase.makeStore("memproj", registry: .test)
        defer { Task { await store.shutdown() } }
        for i in 0..<30 {
            _ = try await store.append(Counted(writer: i % 3 == 0 ? "a" : "b", n: i), to: "count-\(i % 4)", metadata: testActor)
        }
        _ = try await store.append(Counted(writer: "ignored", n: 0), to: "other-1", metadata: testActor)

        let projection = CountsByWriter()
        let runner = ProjectionRunner(store: store, name: "counts", memory: projection)
        let task = Task { await runner.run() }
        defer { task.cancel() }
        #expect(await runner.waitUntil(try await store.headPosition()))
        #expect(projection.snapshot == ["a": 10, "b": 20])

        let live = try await store.append(Counted(writer: "c", n: 99), to: "count-9", metadata: testActor)
        #expect(await runner.waitUntil(live.lastPosition))
        #expect(projection.snapshot == ["a": 10, "b": 20, "c": 1])
    }
}
