import EventStore
import Foundation
import Logging
import PostgresNIO
import Testing
import TestSupport

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
    @Test func eachEventAppliesOnceInTheTransactionThatMovesTheCheckpoint() async throws {
        let store = try await TestDatabase.makeStore("sqlproj", registry: .test)
        defer { Task { await store.shutdown() } }
        try await SQL.execute(store.url, "CREATE TABLE probe_rows (position bigint PRIMARY KEY, txid bigint NOT NULL, synchronous text NOT NULL)")
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
        #expect(try await SQL.column(store.url, "SELECT position FROM projection_checkpoints WHERE name = 'probe'") == [positions.last ?? ""])
        // The claim (migrations/0008) turns the WAL flush wait off for the model's transactions.
        #expect(try await SQL.column(store.url, "SELECT DISTINCT synchronous FROM probe_rows") == ["off"])
    }

    @Test func aBatchIntervalGathersABusyLogIntoFewerTransactions() async throws {
        let store = try await TestDatabase.makeStore("sqlprojbatch", registry: .test)
        defer { Task { await store.shutdown() } }
        try await SQL.execute(store.url, "CREATE TABLE probe_rows (position bigint PRIMARY KEY, txid bigint NOT NULL, synchronous text NOT NULL)")
        // A backlog is caught up page after page, not a page per interval (that would take 5 s).
        for i in 0..<50 { _ = try await store.append(Counted(writer: "b", n: i), to: "count-2", metadata: testActor) }
        let runner = ProjectionRunner(store: store, sql: TransactionProbe())
        let task = Task { await runner.run(pageSize: 10, batchInterval: .seconds(1)) }
        defer { task.cancel() }
        #expect(await runner.waitUntil(try await store.headPosition(), timeout: .milliseconds(2_500)))

        // After a quiet spell the first event is applied at once.
        try await Task.sleep(for: .seconds(1))
        let first = try await store.append(Counted(writer: "a", n: 0), to: "count-1", metadata: testActor)
        #expect(await runner.waitUntil(first.lastPosition, timeout: .milliseconds(900)))
        // Then twenty single appends within the interval wait for it, and share a transaction or two.
        for i in 1...20 { _ = try await store.append(Counted(writer: "a", n: i), to: "count-1", metadata: testActor) }
        let head = try await store.headPosition()
        #expect(await runner.waitUntil(head, timeout: .seconds(5)))
        let rows = try await SQL.column(store.url, "SELECT position || ':' || txid FROM probe_rows ORDER BY position")
        #expect(rows.count == 71, "\(rows)")
        let transactions = try await SQL.column(store.url, "SELECT count(DISTINCT txid)::text FROM probe_rows WHERE position > \(first.lastPosition)")
        #expect(transactions.count == 1 && (Int(transactions[0]) ?? 99) <= 3, "transactions: \(transactions); \(rows)")
    }
}
