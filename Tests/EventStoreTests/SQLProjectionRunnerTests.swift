import EventStore
import Foundation
import Logging
import PostgresNIO
import TestSupport
import Testing

/// Records each `count-` event's position with the transaction that applied it.
struct TransactionProbe: SQLProjection {
    let name = "probe"
    let tables = ["probe_rows"]
    let filter = EventFilter(streamPrefix: "count-")

    func apply(_ event: RecordedEvent, registry: EventRegistry, connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "INSERT INTO probe_rows (position, txid, synchronous) VALUES (\(event.position), txid_current(), current_setting('synchronous_commit'))",
            logger: logger)
    }
}

@Suite struct SQLProjectionRunnerTests {
    /// A fresh log with the probe's table.
    static func probeStore(_ label: String) async throws -> EventStore {
        let store = try await TestDatabase.makeStore(label, registry: .test)
        try await SQL.execute(
            store.url, "CREATE TABLE probe_rows (position bigint PRIMARY KEY, txid bigint NOT NULL, synchronous text NOT NULL)")
        return store
    }

    @Test func eachEventAppliesOnceInTheTransactionThatMovesTheCheckpoint() async throws {
        let store = try await Self.probeStore("sqlproj")
        defer { Task { await store.shutdown() } }
        for i in 0..<10 { _ = try await store.append(Counted(writer: "a", n: i), to: "count-1", metadata: testActor) }

        // Two runners of one projection, as on two nodes: the checkpoint's lock lets each event in once.
        let first = ProjectionRunner(store: store, sql: TransactionProbe())
        let second = ProjectionRunner(store: store, sql: TransactionProbe())
        let tasks = [Task { await first.run() }, Task { await second.run() }]
        defer { for task in tasks { task.cancel() } }
        for i in 10..<20 { _ = try await store.append(Counted(writer: "a", n: i), to: "count-1", metadata: testActor) }
        let head = try await store.headPosition()
        #expect(await first.waitUntil(head))
        #expect(await second.waitUntil(head))

        let positions = try await SQL.column(store.url, "SELECT position FROM probe_rows ORDER BY position")
        #expect(positions.count == 20, "every event once: \(positions)")
        #expect(
            try await SQL.column(store.url, "SELECT position FROM projection_checkpoints WHERE name = 'probe'") == [positions.last ?? ""])
        // The claim (migrations/0008) turns the WAL flush wait off for the model's transactions.
        #expect(try await SQL.column(store.url, "SELECT DISTINCT synchronous FROM probe_rows") == ["off"])
    }

    @Test func aBatchIntervalNeverHoldsBackCatchingUp() async throws {
        let store = try await Self.probeStore("sqlprojcatchup")
        defer { Task { await store.shutdown() } }
        for i in 0..<50 { _ = try await store.append(Counted(writer: "b", n: i), to: "count-2", metadata: testActor) }
        let runner = ProjectionRunner(store: store, sql: TransactionProbe())
        let task = Task { await runner.run(pageSize: 10, batchInterval: .seconds(30)) }
        defer { task.cancel() }
        // Five full pages, one after another; held to the interval they would take two minutes.
        #expect(await runner.waitUntil(try await store.headPosition(), timeout: .seconds(20)))
        #expect(try await SQL.column(store.url, "SELECT count(*)::text FROM probe_rows") == ["50"])
    }

    @Test func aBatchIntervalGathersABusyLogIntoFewerTransactions() async throws {
        let store = try await Self.probeStore("sqlprojbatch")
        defer { Task { await store.shutdown() } }
        let runner = ProjectionRunner(store: store, sql: TransactionProbe())
        let task = Task { await runner.run(batchInterval: .seconds(5)) }
        defer { task.cancel() }

        // The first event after a quiet spell is applied at once, not an interval later.
        let first = try await store.append(Counted(writer: "a", n: 0), to: "count-1", metadata: testActor)
        #expect(await runner.waitUntil(first.lastPosition, timeout: .seconds(4)))
        // Then twenty single appends within the interval wait for it, and share a transaction or a few.
        for i in 1...20 { _ = try await store.append(Counted(writer: "a", n: i), to: "count-1", metadata: testActor) }
        let head = try await store.headPosition()
        #expect(await runner.waitUntil(head, timeout: .seconds(20)))
        let rows = try await SQL.column(store.url, "SELECT position || ':' || txid FROM probe_rows ORDER BY position")
        #expect(rows.count == 21, "\(rows)")
        let transactions = try await SQL.column(
            store.url, "SELECT count(DISTINCT txid)::text FROM probe_rows WHERE position > \(first.lastPosition)")
        #expect(transactions.count == 1 && (Int(transactions[0]) ?? 99) <= 5, "transactions: \(transactions); \(rows)")
    }
}
