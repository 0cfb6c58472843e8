import EventStore
import Foundation
import TestSupport
import Testing

/// `serve --checkpoint-url` and `--witness-url` against a real HTTP server
/// (`Fixtures/checkpoint_sink.py`): a write-once store keeps every checkpoint, a C2SP
/// tlog-witness cosigns each one that extends the last, and a rewrite of the log by someone
/// holding the database and the node is refused by the witness as it happens and fails
/// `events verify` against the stored checkpoint.
@Suite struct CheckpointPushTests {
    static let sink = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/checkpoint_sink.py")
        .path

    @Test(.timeLimit(.minutes(3))) func aWitnessCosignsEachCheckpointAndRefusesARewrite() async throws {
        let dataDir = NSTemporaryDirectory() + "streamd-push-\(UUID().uuidString.prefix(8))"
        let folder = dataDir + "-sink"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let key = try await Subprocess.runDetached(try Binaries.streamd(), ["events", "key", "--data-dir", dataDir])
        let vkey = key.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.status == 0 && vkey.split(separator: "+", maxSplits: 2).count == 3, "\(key.output)")

        let port = try StreamdServer.freePort()
        let sink = try Subprocess.start("/usr/bin/env", ["python3", Self.sink, folder, "\(port)", vkey])
        defer { _ = sink.stop(signal: SIGKILL) }
        let base = "http://127.0.0.1:\(port)"
        let server = try await StreamdServer(
            dataDir: dataDir, extra: ["--checkpoint-url", "\(base)/store", "--witness-url", "\(base)/witness"])
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        #expect(kill(sink.pid, 0) == 0, "the sink: \((try? String(contentsOfFile: sink.outputPath, encoding: .utf8)) ?? "")")

        // Appends lead to a checkpoint within half a second; both targets get it.
        _ = try await server.createChannel("pushed")
        let witnessed = try await poll("a cosigned checkpoint", seconds: 20) { () -> Int64? in
            Self.accepted(folder).last
        }
        #expect(witnessed > 0)
        let stored = try await poll("a stored checkpoint", seconds: 20) { () -> String? in
            Self.storedCheckpoints(folder).last
        }
        let verified = try await Subprocess.runDetached(
            try Binaries.streamd(),
            ["events", "verify", "--checkpoint", stored, "--database-url", server.database.urlString, "--data-dir", dataDir])
        #expect(verified.status == 0 && verified.output.contains("verified"), "\(verified.output)")

        // More appends: the witness takes each new size with a consistency proof from the last.
        _ = try await server.createChannel("pushed2")
        let later = try await poll("a second cosigned size", seconds: 20) { () -> Int64? in
            Self.accepted(folder).last.flatMap { $0 > witnessed ? $0 : nil }
        }
        #expect(Self.witnessLog(folder).contains { $0.hasPrefix("200 old=\(witnessed) size=\(later)") }, "\(Self.witnessLog(folder))")

        let kept = try await poll("the store to hold size \(later)", seconds: 20) { () -> String? in
            Self.storedCheckpoints(folder).last { $0.hasPrefix(folder + "/store/\(later)-") }
        }

        // Someone with the database and the node's key rewrites event 2 and every hash and tree
        // node after it; the node goes on signing. The witness refuses what it signs next.
        try await SQL.execute(
            server.database, "SET session_replication_role = replica", #"UPDATE events SET data = '{"rewritten":true}' WHERE position = 2"#,
            "DELETE FROM merkle_nodes", "UPDATE merkle_head SET size = 0")
        _ = try await server.createChannel("after-rewrite")
        let refusal = try await poll("the witness to refuse the rewritten log", seconds: 30) { () -> String? in
            Self.witnessLog(folder).first { $0.hasPrefix("422") }
        }
        #expect(refusal.contains("old=\(Self.accepted(folder).last ?? -1)"), "\(Self.witnessLog(folder))")
        let metrics = try await poll("streamd to count the refusal", seconds: 20) { () -> String? in
            let text = try await server.admin("GET", "/metrics").text
            return text.contains(#"streamd_checkpoint_pushes_total{result="refused",target="witness"}"#) ? text : nil
        }
        #expect(metrics.contains(#"streamd_checkpoint_pushes_total{result="ok",target="storage"}"#))
        let logged = (try? String(contentsOfFile: server.process.outputPath, encoding: .utf8)) ?? ""
        #expect(logged.contains("the log was rewritten"), "\(logged.suffix(2_000))")

        // The checkpoint kept in the store names the rewritten event.
        let caught = try await Subprocess.runDetached(
            try Binaries.streamd(),
            ["events", "verify", "--checkpoint", kept, "--database-url", server.database.urlString, "--data-dir", dataDir])
        #expect(caught.status != 0 && caught.output.contains("first bad position 2"), "\(caught.output)")
        // Write-once: nothing in the store was replaced.
        #expect(Self.storedCheckpoints(folder).count >= 2)
    }

    static func witnessLog(_ folder: String) -> [String] {
        ((try? String(contentsOfFile: folder + "/witness.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Sizes the witness cosigned, in order.
    static func accepted(_ folder: String) -> [Int64] {
        witnessLog(folder).filter { $0.hasPrefix("200 ") }.compactMap { line in
            line.split(separator: " ").last.flatMap { Int64($0.dropFirst("size=".count)) }
        }
    }

    static func storedCheckpoints(_ folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder + "/store")) ?? []
        return names.filter { $0.hasSuffix(".checkpoint") }.sorted {
            (Int64($0.prefix { $0 != "-" }) ?? 0) < (Int64($1.prefix { $0 != "-" }) ?? 0)
        }
        .map { folder + "/store/" + $0 }
    }
}
