import EventStore
import Foundation
import TestSupport
import Testing

/// The log against checkpoints signed outside the database: the rewrites issue 26 found passing
/// `events verify` must each fail here, and the offline export verifier must refuse every kind
/// of doctored export.
@Suite struct ProofTests {
    struct Log {
        let store: EventStore
        let key: CheckpointKey
        let integrator: MerkleIntegrator
        /// A checkpoint "exported" before the rewrite: kept outside the database.
        let checkpoint: Checkpoint
    }

    func seeded(_ label: String, count: Int = 300) async throws -> Log {
        let store = try await TestDatabase.makeStore(label, registry: .test)
        for i in 1...count {
            _ = try await store.append(Counted(writer: "p", n: i), to: "proof-\(i % 7)", metadata: testActor)
        }
        let key = try CheckpointKey.generate(name: "test.streamd/events")
        let integrator = MerkleIntegrator(store: store, key: key)
        let checkpoint = try await integrator.checkpoint()
        return Log(store: store, key: key, integrator: integrator, checkpoint: checkpoint)
    }

    /// As a superuser: no triggers, no append-only rules.
    func tamper(_ store: EventStore, _ statements: String...) async throws {
        for statement in statements {
            try await SQL.execute(store.url, "SET session_replication_role = replica", statement)
        }
    }

    /// Recomputes the hash chain from `position` on with the database's canonical function, and
    /// moves the head: an edit that `events verify` alone cannot see.
    func rechain(_ store: EventStore, from position: Int) async throws {
        try await tamper(
            store,
            """
            DO $$ DECLARE h bytea; r record; BEGIN
                SELECT coalesce((SELECT hash FROM events WHERE position = \(position - 1)), decode(repeat('00', 32), 'hex')) INTO h;
                FOR r IN SELECT * FROM events WHERE position >= \(position) ORDER BY position LOOP
                    h := sha256(h || streamd_event_canonical(r.position, r.stream_id, r.stream_version, r.event_id,
                        r.event_type, r.schema_version, r.data, r.metadata, r.recorded_at));
                    UPDATE events SET hash = h WHERE position = r.position;
                END LOOP;
                UPDATE event_log_head SET hash = h;
            END $$
            """)
    }

    func verify(_ log: Log, also extra: [Checkpoint] = []) async throws -> LogVerifier.Report {
        try await LogVerifier(store: log.store, key: log.key.verifier).verify(against: log.checkpoint, also: extra, pageSize: 64)
    }

    @Test func intactLogVerifiesAndPrintsItsRoot() async throws {
        let log = try await seeded("pok")
        defer { Task { await log.store.shutdown() } }
        _ = try await log.store.append(Counted(writer: "p", n: 0), to: "proof-late", metadata: testActor)
        let report = try await verify(log)
        #expect(report.isVerified)
        #expect(report.size == 300 && report.root == log.checkpoint.root)
        #expect(report.description.contains("tree size 300"))
        #expect(report.description.contains(log.checkpoint.rootBase64))

        // Proofs from the stored tree check against the checkpoint, and the tree agrees with a
        // later one.
        let tree = MerkleTree(store: log.store)
        for position: Int64 in [1, 2, 150, 255, 256, 257, 300] {
            let proof = try await tree.inclusionProof(position: position, size: 300)
            try MerkleVerifier.verifyInclusion(
                leafHash: try await tree.leafHash(position: position), index: position - 1, size: 300, proof: proof,
                root: log.checkpoint.root)
        }
        let later = try await log.integrator.checkpoint()
        #expect(later.size == 301)
        try MerkleVerifier.verifyConsistency(
            oldSize: 300, oldRoot: log.checkpoint.root, newSize: 301, newRoot: later.root,
            proof: try await tree.consistencyProof(oldSize: 300, newSize: 301))
        #expect(try await tree.latestCheckpoint(key: log.key.verifier) == later)
    }

    @Test func deletedTailWithTheHeadRewoundFails() async throws {
        let log = try await seeded("ptail")
        defer { Task { await log.store.shutdown() } }
        try await tamper(
            log.store, "DELETE FROM events WHERE position > 200",
            "UPDATE event_log_head SET position = 200, hash = (SELECT hash FROM events WHERE position = 200)")
        // The chain alone cannot tell: this is the rewrite the issue found passing.
        #expect(try await HashChainVerifier(store: log.store).verify() == .verified(count: 200))
        let report = try await verify(log)
        #expect(report.failure?.position == 201)
        #expect(report.failure?.reason.contains("deleted") == true)
    }

    @Test func editedAndRechainedEventFails() async throws {
        let log = try await seeded("pchain")
        defer { Task { await log.store.shutdown() } }
        try await tamper(log.store, #"UPDATE events SET data = '{"writer":"p","n":9999}' WHERE position = 123"#)
        try await rechain(log.store, from: 123)
        #expect(try await HashChainVerifier(store: log.store).verify() == .verified(count: 300))
        let report = try await verify(log)
        #expect(report.failure?.position == 123 && report.failure?.firstPossible == 123)
    }

    @Test func editWithTheCanonicalFunctionRedefinedFails() async throws {
        let log = try await seeded("pfunc")
        defer { Task { await log.store.shutdown() } }
        let original = try await SQL.column(
            log.store.url,
            """
            SELECT encode(streamd_event_canonical(position, stream_id, stream_version, event_id, event_type, schema_version,
                data, metadata, recorded_at), 'hex') FROM events WHERE position = 77
            """)[0]
        try await tamper(
            log.store, #"UPDATE events SET data = '{"writer":"p","n":-1}' WHERE position = 77"#,
            """
            CREATE OR REPLACE FUNCTION streamd_event_canonical(
                p_position bigint, p_stream_id text, p_stream_version bigint, p_event_id uuid, p_event_type text,
                p_schema_version integer, p_data json, p_metadata json, p_recorded_at timestamptz
            ) RETURNS bytea LANGUAGE sql IMMUTABLE STRICT AS $$
                SELECT CASE WHEN p_position = 77 THEN decode('\(original)', 'hex') ELSE convert_to(concat_ws(E'\\x1f',
                    p_position::text, p_stream_id, p_stream_version::text, p_event_id::text, p_event_type,
                    p_schema_version::text, p_data::text, p_metadata::text,
                    (extract(epoch FROM p_recorded_at) * 1000000)::bigint::text), 'UTF8') END
            $$
            """)
        // The database's own function now vouches for the edited row.
        let vouched = try await SQL.column(
            log.store.url,
            """
            SELECT encode(streamd_event_canonical(position, stream_id, stream_version, event_id, event_type, schema_version,
                data, metadata, recorded_at), 'hex') FROM events WHERE position = 77
            """)[0]
        #expect(vouched == original)
        guard case .broken(let position, _) = try await HashChainVerifier(store: log.store).verify() else {
            Issue.record("the chain verifier trusted the redefined function"); return
        }
        #expect(position == 77)
        let report = try await verify(log)
        #expect(report.failure?.position == 77 && report.failure?.firstPossible == 77)
    }

    @Test func superuserRewriteOfEventHashesAndTreeFailsNamingThePosition() async throws {
        // 100 events in one checkpoint, then 20 with a checkpoint each (as at low append rates).
        let log = try await seeded("pall", count: 100)
        defer { Task { await log.store.shutdown() } }
        for i in 1...20 {
            _ = try await log.store.append(Counted(writer: "p", n: 100 + i), to: "proof-late", metadata: testActor)
            _ = try await log.integrator.checkpoint()
        }
        let exported = try await log.integrator.checkpoint()
        #expect(exported.size == 120)
        let late = Log(store: log.store, key: log.key, integrator: log.integrator, checkpoint: exported)

        // Rewrite event 110, the chain after it, and the whole tree, consistently.
        try await tamper(log.store, #"UPDATE events SET data = '{"writer":"p","n":-110}' WHERE position = 110"#)
        try await rechain(log.store, from: 110)
        try await tamper(log.store, "DELETE FROM merkle_nodes", "UPDATE merkle_head SET size = 0")
        let forger = try CheckpointKey.generate(name: "test.streamd/events")
        _ = try await MerkleIntegrator(store: log.store, key: forger).integrate()
        #expect(try await HashChainVerifier(store: log.store).verify() == .verified(count: 120))
        #expect(try await MerkleTree(store: log.store).root(size: 120) != exported.root)

        let report = try await verify(late)
        #expect(report.failure?.position == 110 && report.failure?.firstPossible == 110, "\(report)")

        // With only the exported checkpoint left as a witness, the failure stands, with a range.
        try await tamper(log.store, "DELETE FROM merkle_checkpoints")
        let alone = try await verify(late)
        #expect(alone.failure?.firstPossible == 1 && alone.failure?.position == 120, "\(alone)")
    }

    @Test func forkedCheckpointsAreReported() async throws {
        let log = try await seeded("pfork", count: 20)
        defer { Task { await log.store.shutdown() } }
        let fork = try Checkpoint.sign(size: 20, root: Merkle.emptyRoot, time: Date(), key: log.key)
        let report = try await verify(log, also: [fork])
        #expect(report.failure?.reason.contains("fork") == true)
    }

    // MARK: The offline verifier

    func exported(_ log: Log) async throws -> URL {
        let file = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("export-\(UUID().uuidString).jsonl")
        try await LogExport(store: log.store).write(from: 11, to: 290, checkpoint: log.checkpoint, file: file, pageSize: 50)
        return file
    }

    func rejection(_ data: Data, key: CheckpointVerifierKey, others: [String] = []) -> String? {
        do {
            _ = try ExportVerifier.verify(data: data, key: key, otherCheckpoints: others)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func offlineVerifierAcceptsAnExportAndRejectsEachDoctoring() async throws {
        let log = try await seeded("pexport")
        defer { Task { await log.store.shutdown() } }
        let file = try await exported(log)
        defer { try? FileManager.default.removeItem(at: file) }
        let data = try Data(contentsOf: file)
        let key = log.key.verifier
        let result = try ExportVerifier.verify(data: data, key: key)
        #expect(result.from == 11 && result.to == 290 && result.checkpoint.size == 300)

        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func joined(_ lines: [String]) -> Data { Data(lines.joined(separator: "\n").utf8) }

        // A mutated proof: one hash of position 50's proof.
        var mutated = lines
        let entry = mutated[40]
        let object = try JSONSerialization.jsonObject(with: Data(entry.utf8)) as! [String: Any]
        var proof = object["proof"] as! [String]
        var first = Array(Data(base64Encoded: proof[0])!)
        first[0] ^= 0x01
        proof[0] = Data(first).base64EncodedString()
        var changed = object
        changed["proof"] = proof
        mutated[40] = String(decoding: try JSONSerialization.data(withJSONObject: changed, options: [.sortedKeys]), as: UTF8.self)
        #expect(rejection(joined(mutated), key: key)?.contains("position 50") == true)

        // A mutated event, its proof left alone.
        var edited = lines
        edited[41] = edited[41].replacingOccurrences(of: #"\"n\":51"#, with: #"\"n\":52"#)
        #expect(edited[41] != lines[41])
        #expect(rejection(joined(edited), key: key)?.contains("position 51") == true)

        // Truncated: cut mid-line, and cut at a line's end (the end record missing).
        let cut = rejection(data.prefix(data.count / 2), key: key)
        #expect(cut?.contains("truncated") == true || cut?.contains("not a valid export entry") == true, "\(cut ?? "accepted")")
        #expect(rejection(joined(Array(lines.prefix(100))) + Data("\n".utf8), key: key)?.contains("truncated") == true)

        // A missing event in the middle.
        var gap = lines
        gap.remove(at: 60)
        #expect(rejection(joined(gap), key: key)?.contains("missing") == true)

        // Another key: the export's checkpoint is not this log's.
        let stranger = try CheckpointKey.generate(name: "test.streamd/events")
        #expect(rejection(data, key: stranger.verifier)?.contains("not signed by") == true)

        // A fork: another checkpoint of the same size, properly signed, with another root.
        let fork = try Checkpoint.sign(size: 300, root: Merkle.emptyRoot, time: Date(), key: log.key)
        #expect(rejection(data, key: key, others: [fork.note])?.contains("fork") == true)
        // The same size with the same root (a re-signed checkpoint) is no fork.
        let resigned = try Checkpoint.sign(size: 300, root: log.checkpoint.root, time: Date(), key: log.key)
        #expect(rejection(data, key: key, others: [resigned.note]) == nil)

        // Garbage never traps.
        for junk in [Data(), Data("{}".utf8), Data([0xFF, 0x00, 0x0A]), Data(repeating: 0x7B, count: 1000)] {
            #expect(rejection(junk, key: key) != nil)
        }
        lines.removeAll()
    }
}
