import ArgumentParser
import EventStore
import Foundation
import Logging
import Media
import Node
import PostgresNIO

/// `ops/bench/eventstore proofs`: the Merkle tree's costs, side by side (docs/benchmarks.md#proofs).
///   1. append throughput without and with the integrator signing checkpoints, alternated;
///   2. checkpoint lag (an append's acknowledgement to the first checkpoint covering it) while
///      appending at a fixed rate;
///   3. inclusion proofs at a large size: events and tree filled in SQL (the same bytes and
///      hashes the integrator makes, computed by PostgreSQL for speed; the hash chain is left
///      as a placeholder), then random positions proven against a signed checkpoint.
struct ProofBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proofs", abstract: "Merkle tree: append throughput with and without it, checkpoint lag, inclusion proof latency.")
    @Option(help: "Folder of the embedded PostgreSQL when no --database-url is given.") var dataDir = "ops/bench/out/streamd"
    @Option(help: "PostgreSQL URL; without it an embedded cluster in --data-dir.") var databaseUrl: String?
    @Option(help: "Seconds per throughput phase (each runs --rounds times, alternated).") var seconds: Double = 5
    @Option(help: "Throughput rounds: each runs without, then with the tree.") var rounds: Int = 2
    @Option(help: "Concurrent single-event appenders in the throughput phases.") var concurrency = 64
    @Option(help: "Events per second for the lag phase.") var rate = 5_000
    @Option(help: "Seconds of the lag phase.") var lagSeconds: Double = 10
    @Option(help: "Events in the log for the proof phase (0 skips it).") var proofEvents = 1_000_000
    @Option(help: "Inclusion proofs to time.") var proofs = 2_000
    @Option(help: "Time proofs on this database, already filled (events and tree), instead of filling one.")
    var proofDatabaseUrl: String?
    @Flag(help: "Skip the throughput and lag phases.") var onlyProofs = false

    func run() async throws {
        let logger = makeLogger(level: .warning)
        let server = try await NodeDatabase.open(
            url: databaseUrl, dataDirectory: URL(fileURLWithPath: dataDir).standardizedFileURL, registry: EventRegistry(), logger: logger)
        let serverURL = server.store.url
        func scratch(_ label: String) async throws -> EventStore {
            let name = "bench_\(label)_\(Int(Date().timeIntervalSince1970))"
            try await server.store.readModels.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
            var options = EventStore.Options()
            options.maximumConnections = 24
            return try await EventStore.open(
                url: serverURL.with(database: name), registry: EventRegistry(), options: options, logger: logger)
        }
        let key = try CheckpointKey.generate(name: "bench.streamd/events")
        print("proof benchmark on \(serverURL.host):\(serverURL.port), \(ProcessInfo.processInfo.activeProcessorCount) cores")

        do {
            if !onlyProofs { try await throughputAndLag(scratch: scratch, key: key) }
        } catch {
            print("failed: \(String(reflecting: error))")
            throw error
        }

        // 3. Inclusion proofs at size.
        if let proofDatabaseUrl {
            // Filled by hand, perhaps without streamd's migration records: used as it is.
            var options = EventStore.Options()
            options.migrate = false
            let proofStore = try await EventStore.open(
                url: try DatabaseURL(proofDatabaseUrl), registry: EventRegistry(), options: options, logger: logger)
            try await proofLatency(proofStore, key: key, fill: false, logger: logger)
            await proofStore.shutdown()
        } else if proofEvents > 0 {
            let proofStore = try await scratch("proof")
            try await proofLatency(proofStore, key: key, fill: true, logger: logger)
            await proofStore.shutdown()
        }
        await server.store.shutdown()
        server.cluster?.stop()
    }

    private func throughputAndLag(scratch: (String) async throws -> EventStore, key: CheckpointKey) async throws {
        // 1. Throughput, A/B/A/B on one database.
        let store = try await scratch("tput")
        var without: [Double] = []
        var with: [Double] = []
        for round in 0..<rounds {
            without.append(try await appendRate(store, label: "a\(round)"))
            let integrator = MerkleIntegrator(store: store, key: key)
            _ = try await integrator.integrate()
            let running = Task { await integrator.run() }
            with.append(try await appendRate(store, label: "b\(round)"))
            running.cancel()
            await running.value
        }
        let verifiedSize = try await MerkleIntegrator(store: store, key: key).checkpoint().size
        print("")
        print("append throughput, \(concurrency) concurrent single-event appenders, \(seconds) s per run:")
        print("  without the tree: \(without.map { String(format: "%.0f", $0) }.joined(separator: ", ")) events/s")
        print("  with tree + checkpoints: \(with.map { String(format: "%.0f", $0) }.joined(separator: ", ")) events/s")
        let ratio = with.reduce(0, +) / without.reduce(0, +)
        print(String(format: "  with / without: %.1f %%  (tree reached %lld events)", ratio * 100, verifiedSize))
        await store.shutdown()

        // 2. Checkpoint lag at a fixed rate.
        let lagStore = try await scratch("lag")
        try await checkpointLag(lagStore, key: key)
        await lagStore.shutdown()

    }

    private func appendRate(_ store: EventStore, label: String) async throws -> Double {
        let metadata = EventMetadata(actor: .system("bench"))
        let data = #"{"bitrate":4500000,"fps":29.97,"note":"a typical small event"}"#
        let deadline = ContinuousClock.now + .seconds(seconds)
        let start = ContinuousClock.now
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for writer in 0..<concurrency {
                group.addTask {
                    var count = 0
                    while ContinuousClock.now < deadline {
                        _ = try await store.append(
                            to: "bench-\(label)-\(writer)", expectedVersion: .any,
                            events: [NewEvent(eventType: "BenchSampled", schemaVersion: 1, data: data, metadata: metadata)])
                        count += 1
                    }
                    return count
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / (ContinuousClock.now - start).inSeconds
    }

    private func checkpointLag(_ store: EventStore, key: CheckpointKey) async throws {
        actor Marks {
            var checkpoints: [(size: Int64, at: ContinuousClock.Instant)] = []
            var acks: [(position: Int64, at: ContinuousClock.Instant)] = []
            func checkpoint(_ size: Int64) { checkpoints.append((size, .now)) }
            func ack(_ position: Int64) { acks.append((position, .now)) }
        }
        let marks = Marks()
        var options = MerkleIntegrator.Options()
        options.onCheckpoint = { await marks.checkpoint($0.size) }
        let integrator = MerkleIntegrator(store: store, key: key, options: options)
        let running = Task { await integrator.run() }
        let metadata = EventMetadata(actor: .system("bench"))
        let data = #"{"bitrate":4500000,"fps":29.97,"note":"a typical small event"}"#
        // 10 ms ticks; each tick starts rate/100 single-event appends.
        let perTick = max(1, rate / 100)
        let ticks = Int(lagSeconds * 100)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for tick in 0..<ticks {
                try await Task.sleep(until: start + .milliseconds(10 * tick))
                for i in 0..<perTick {
                    group.addTask {
                        let result = try await store.append(
                            to: "lag-\(i % 50)", expectedVersion: .any,
                            events: [NewEvent(eventType: "BenchSampled", schemaVersion: 1, data: data, metadata: metadata)])
                        await marks.ack(result.lastPosition)
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = (ContinuousClock.now - start).inSeconds
        try await Task.sleep(for: .seconds(2))
        running.cancel()
        await running.value
        let checkpoints = await marks.checkpoints
        let acks = await marks.acks
        var lags: [Double] = []
        var next = 0
        for ack in acks.sorted(by: { $0.position < $1.position }) {
            while next < checkpoints.count && checkpoints[next].size < ack.position { next += 1 }
            guard next < checkpoints.count else { break }
            lags.append(Swift.max(0, (checkpoints[next].at - ack.at).inSeconds * 1000))
        }
        lags.sort()
        func percentile(_ p: Double) -> Double { lags.isEmpty ? .nan : lags[Swift.min(lags.count - 1, Int(Double(lags.count) * p))] }
        print("")
        print(
            String(
                format:
                    "checkpoint lag at %ld events/s offered (%.0f achieved, %ld appends, %ld checkpoints): p50 %.0f ms, p99 %.0f ms, max %.0f ms",
                rate, Double(acks.count) / elapsed, acks.count, checkpoints.count, percentile(0.5), percentile(0.99), lags.last ?? .nan))
    }

    private func proofLatency(_ store: EventStore, key: CheckpointKey, fill: Bool, logger: Logger) async throws {
        let n = fill ? proofEvents : Int(try await store.headPosition())
        let fillStart = ContinuousClock.now
        let metadata = try EventCoding.encodeString(EventMetadata(actor: .system("bench")))
        var statements = [
            """
            INSERT INTO events (position, stream_id, stream_version, event_id, event_type, schema_version, data, metadata, recorded_at, hash)
            SELECT i, 'bench-' || (i % 1000), i / 1000 + 1, md5(i::text)::uuid, 'BenchSampled', 1,
                   ('{"bitrate":4500000,"fps":29.97,"n":' || i || '}')::json, '\(metadata)'::json,
                   timestamptz '2026-12-01 00:00:00+00' + i * interval '1 millisecond', '\\x00'::bytea
            FROM generate_series(1, \(n)) AS i
            """,
            "UPDATE event_log_head SET position = \(n)",
            """
            INSERT INTO merkle_nodes (level, idx, hash)
            SELECT 0, position - 1, sha256('\\x00'::bytea || streamd_event_canonical(position, stream_id, stream_version, event_id,
                event_type, schema_version, data, metadata, recorded_at)) FROM events
            """,
        ]
        var level = 0
        while (Int64(1) << (level + 1)) <= Int64(n) {
            statements.append(
                """
                INSERT INTO merkle_nodes (level, idx, hash)
                SELECT \(level + 1), idx / 2, sha256('\\x01'::bytea || string_agg(hash, ''::bytea ORDER BY idx))
                FROM merkle_nodes WHERE level = \(level) GROUP BY idx / 2 HAVING count(*) = 2
                """)
            level += 1
        }
        statements += ["UPDATE merkle_head SET size = \(n)", "ANALYZE events", "ANALYZE merkle_nodes"]
        for statement in statements where fill {
            try await store.readModels.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
        let fillSeconds = (ContinuousClock.now - fillStart).inSeconds
        let checkpoint = try await MerkleIntegrator(store: store, key: key).checkpoint()
        let tree = MerkleTree(store: store)
        var latencies: [Double] = []
        for _ in 0..<proofs {
            let position = Int64.random(in: 1...Int64(n))
            let began = ContinuousClock.now
            let proof = try await tree.inclusionProof(position: position, size: checkpoint.size)
            latencies.append((ContinuousClock.now - began).inSeconds * 1000)
            if latencies.count <= 20 {
                try MerkleVerifier.verifyInclusion(
                    leafHash: try await tree.leafHash(position: position), index: position - 1, size: checkpoint.size, proof: proof,
                    root: checkpoint.root)
            }
        }
        latencies.sort()
        func percentile(_ p: Double) -> Double { latencies[Swift.min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        print("")
        print(String(format: "tree of %lld events filled in SQL in %.0f s", checkpoint.size, fillSeconds))
        print(
            String(
                format:
                    "inclusion proof (%ld random positions, at most %ld hashes each, read from PostgreSQL): p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                proofs, Merkle.proofLength(size: checkpoint.size), percentile(0.5), percentile(0.99), latencies.last ?? 0))
    }
}
