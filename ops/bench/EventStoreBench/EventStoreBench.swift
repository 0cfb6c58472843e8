import ArgumentParser
import EventStore
import Foundation
import Logging
import Media
import Node
import PostgresNIO

/// The event store's benchmark (`ops/bench/eventstore`) and the second writer process of the
/// concurrency tests: tools, kept out of the `streamd` product.
@main
struct EventStoreBenchTool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "EventStoreBench",
        abstract: "Event store benchmark and test writer.",
        subcommands: [EventStoreBench.self, SpoolBench.self, ProofBench.self, AppendWriter.self])
}

/// `ops/bench/eventstore`: appends against COPY as the anchor, on one PostgreSQL, in one run.
struct EventStoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventstore",
        abstract:
            "Appends/s for 1, 8 and 64 concurrent appenders and 100-event batches, against COPY of the same rows; catch-up read; latency.")
    @Option(help: "Folder of the embedded PostgreSQL when no --database-url is given.") var dataDir = "ops/bench/out/streamd"
    @Option(help: "PostgreSQL URL; without it an embedded cluster in --data-dir.") var databaseUrl: String?
    @Option(help: "Seconds per append phase.") var seconds: Double = 5
    @Option(help: "Rows for the COPY anchor.") var copyRows: Int = 200_000
    @Option(help: "Group-commit transactions in flight per process.") var appendWorkers: Int = EventStore.Options().appendWorkers

    func run() async throws {
        let logger = makeLogger(level: .warning)
        // A database of its own, so runs never mix and the figures start from an empty log.
        let scratch = "bench_\(Int(Date().timeIntervalSince1970))"
        let server = try await NodeDatabase.open(
            url: databaseUrl, dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL, registry: EventRegistry(), logger: logger)
        let serverURL = server.store.url
        try await server.store.readModels.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(scratch)"), logger: logger)
        await server.store.shutdown()
        var options = EventStore.Options()
        options.maximumConnections = 24
        options.appendWorkers = appendWorkers
        let store = try await EventStore.open(
            url: serverURL.with(database: scratch), registry: EventRegistry(), options: options, logger: logger)
        let metadata = EventMetadata(actor: .system("bench"))
        let data = #"{"bitrate":4500000,"fps":29.97,"note":"a typical small event"}"#

        print(
            "event store benchmark on \(serverURL.host):\(serverURL.port), \(ProcessInfo.processInfo.activeProcessorCount) cores, \(seconds) s per phase, \(appendWorkers) group-commit workers"
        )
        let copyRate = try await copyAnchor(
            store: store, table: "bench_copy", indexed: false, rows: copyRows, data: data, metadata: metadata, logger: logger)
        let indexedCopyRate = try await copyAnchor(
            store: store, table: "bench_copy_indexed", indexed: true, rows: copyRows, data: data, metadata: metadata, logger: logger)

        var results: [(String, Double, Double?, Double?)] = [
            ("COPY, bare table (anchor)", copyRate, nil, nil),
            ("COPY, with the events table's indexes", indexedCopyRate, nil, nil),
        ]
        for concurrency in [1, 8, 64] {
            let (rate, p50, p99) = try await appendPhase(store: store, concurrency: concurrency, batch: 1, data: data, metadata: metadata)
            results.append(("append, \(concurrency) concurrent, 1 event each", rate, p50, p99))
        }
        let (batchRate, batchP50, batchP99) = try await appendPhase(
            store: store, concurrency: 8, batch: 100, data: data, metadata: metadata)
        results.append(("append, 8 concurrent, 100-event batches", batchRate, batchP50, batchP99))

        let head = try await store.headPosition()
        // Three passes, the best counted: one pass lasts about a second on a noisy machine.
        var readRate = 0.0
        for _ in 0..<3 {
            let readStart = ContinuousClock.now
            var seen: Int64 = 0
            for await event in store.subscribe(after: 0, pageSize: 5_000) {
                seen += 1
                if event.position >= head { break }
            }
            readRate = Swift.max(readRate, Double(seen) / (ContinuousClock.now - readStart).inSeconds)
        }
        results.append(("catch-up subscription (5000-event pages)", readRate, nil, nil))
        let transactions = await store.appendTransactions()
        let hashed = await store.hashedAppendTransactions()

        print("")
        print(pad("phase", 46) + pad("events/s", 12) + pad("× COPY", 9) + pad("p50 ms", 9) + "p99 ms")
        for (name, rate, p50, p99) in results {
            print(
                pad(name, 46) + pad(String(format: "%.0f", rate), 12) + pad(String(format: "%.2f", rate / copyRate), 9)
                    + pad(p50.map { String(format: "%.2f", $0) } ?? "-", 9) + (p99.map { String(format: "%.2f", $0) } ?? "-"))
        }
        print(
            "\n\(head) events appended in \(transactions) group-commit transactions, \(hashed) of them hashed by streamd (the rest by PostgreSQL)"
        )
        let verify = try await HashChainVerifier(store: store).verify()
        print("hash chain: \(verify)")
        await store.shutdown()
        server.cluster?.stop()
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// COPY of rows shaped like the log's, in one transaction: bare (the issue's anchor), and with
    /// the same indexes as `events` (what any durable, queryable log must also maintain).
    private func copyAnchor(
        store: EventStore, table: String, indexed: Bool, rows: Int, data: String, metadata: EventMetadata, logger: Logger
    ) async throws -> Double {
        let metadataJSON = try EventCoding.encodeString(metadata)
        try await store.readModels.query(
            PostgresQuery(unsafeSQL: "CREATE TABLE \(table) (LIKE events INCLUDING \(indexed ? "ALL" : "DEFAULTS"))"), logger: logger)
        let hash = "\\\\x" + String(repeating: "ab", count: 32)
        let start = ContinuousClock.now
        try await store.readModels.withConnection { connection in
            try await connection.copyFrom(table: table, logger: logger) { writer in
                var buffer = ByteBuffer()
                for i in 1...rows {
                    buffer.writeString(
                        "\(i)\tbench-\(i % 1000)\t\(i / 1000 + 1)\t\(UUID().uuidString)\tBenchSampled\t1\t\(data)\t\(metadataJSON)\t2026-11-22 00:00:00+00\t\(hash)\n"
                    )
                    if buffer.readableBytes > 1 << 20 {
                        try await writer.write(buffer)
                        buffer.clear()
                    }
                }
                if buffer.readableBytes > 0 { try await writer.write(buffer) }
            }
        }
        return Double(rows) / (ContinuousClock.now - start).inSeconds
    }

    private func appendPhase(
        store: EventStore, concurrency: Int, batch: Int, data: String, metadata: EventMetadata
    ) async throws -> (Double, Double, Double) {
        let deadline = ContinuousClock.now + .seconds(seconds)
        let start = ContinuousClock.now
        let phase = UUID().uuidString.prefix(6)
        let perWriter = try await withThrowingTaskGroup(of: (Int, [Double]).self) { group in
            for writer in 0..<concurrency {
                group.addTask {
                    var count = 0
                    var latencies: [Double] = []
                    var n = 0
                    while ContinuousClock.now < deadline {
                        let events = (0..<batch).map { _ in
                            NewEvent(eventType: "BenchSampled", schemaVersion: 1, data: data, metadata: metadata)
                        }
                        let began = ContinuousClock.now
                        _ = try await store.append(to: "bench-\(phase)-\(writer)-\(n % 50)", expectedVersion: .any, events: events)
                        latencies.append((ContinuousClock.now - began).inSeconds * 1000)
                        count += batch
                        n += 1
                    }
                    return (count, latencies)
                }
            }
            var results: [(Int, [Double])] = []
            for try await result in group { results.append(result) }
            return results
        }
        let elapsed = (ContinuousClock.now - start).inSeconds
        let total = perWriter.reduce(0) { $0 + $1.0 }
        let latencies = perWriter.flatMap(\.1).sorted()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[Swift.min(latencies.count - 1, Int(Double(latencies.count) * p))]
        }
        return (Double(total) / elapsed, percentile(0.5), percentile(0.99))
    }
}

/// A second writer process for the concurrency tests: appends single events and prints each
/// acknowledged one as `ack POSITION EVENT_ID`.
struct AppendWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append-writer", abstract: "Append test events from a separate process (used by the test suite).",
        shouldDisplay: false)
    @Option var databaseUrl: String
    @Option var prefix: String
    @Option var count: Int
    @Option var streams: Int = 20
    @Option var concurrency: Int = 8

    func run() async throws {
        let store = try await EventStore.open(
            url: try DatabaseURL(databaseUrl), registry: EventRegistry(), logger: makeLogger(level: .error))
        let metadata = EventMetadata(actor: .system("append-writer"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writer in 0..<concurrency {
                group.addTask {
                    var i = writer
                    while i < count {
                        let event = NewEvent(
                            eventType: "TestCounted", schemaVersion: 1, data: #"{"writer":"\#(prefix)","n":\#(i)}"#, metadata: metadata)
                        let result = try await store.append(to: "\(prefix)-\(i % streams)", expectedVersion: .any, events: [event])
                        print("ack \(result.lastPosition) \(event.eventId)")
                        i += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
        fflush(nil)
        await store.shutdown()
    }
}

func makeLogger(level: Logger.Level) -> Logger {
    var logger = Logger(label: "streamd.bench")
    logger.logLevel = level
    return logger
}
