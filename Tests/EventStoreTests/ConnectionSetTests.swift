import Foundation
import PostgresNIO
import Synchronization
import TestSupport
import Testing

@testable import EventStore

/// The log's own connections: a burst of uses beyond the limit waits for a connection instead of
/// opening (and then closing) one more, which is what every commit's burst of subscription reads did.
@Suite struct ConnectionSetTests {
    @Test(.timeLimit(.minutes(1))) func aBurstBeyondTheLimitSharesTheLimitsConnections() async throws {
        let url = try await TestDatabase.freshDatabase("connset")
        let set = ConnectionSet(url: url, limit: 2, eventLoop: EventStore.defaultGroup.next(), logger: TestDatabase.logger)
        let busy = Busy()
        let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await set.with { connection in
                        busy.state.withLock {
                            $0.now += 1; $0.most = max($0.most, $0.now)
                        }
                        defer { busy.state.withLock { $0.now -= 1 } }
                        var pid: Int32 = 0
                        for try await value in try await connection.query(
                            "SELECT pg_backend_pid() FROM pg_sleep(0.05)", logger: TestDatabase.logger
                        ).decode(Int32.self) {
                            pid = value
                        }
                        return pid
                    }
                }
            }
            var pids: [Int32] = []
            for try await pid in group { pids.append(pid) }
            return pids
        }
        #expect(pids.count == 12)
        #expect(Set(pids).count <= 2)
        #expect(busy.state.withLock { $0.most } <= 2)

        // A connection that breaks is replaced; the set keeps serving.
        let victim = pids[0]
        let admin = try await EventStore.open(url: url, registry: .test, logger: TestDatabase.logger)
        _ = try await admin.client.query("SELECT pg_terminate_backend(\(victim))", logger: TestDatabase.logger)
        await admin.shutdown()
        var served = 0
        for _ in 0..<6 {
            do {
                _ = try await set.with { connection in
                    try await connection.query("SELECT 1", logger: TestDatabase.logger).collect()
                }
                served += 1
            } catch {
                // The use that meets the terminated backend fails; the next one connects afresh.
            }
        }
        #expect(served >= 4)
        await set.closeAll()
        await #expect(throws: EventStoreError.self) {
            try await set.with { _ in 1 }
        }
    }
}

private final class Busy: Sendable {
    let state = Mutex((now: 0, most: 0))
}
