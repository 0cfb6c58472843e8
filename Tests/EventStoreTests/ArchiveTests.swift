import EventStore
import Foundation
import TestSupport
import Testing

/// `events archive`: old events leave PostgreSQL for a file with their proofs; the tree and the
/// checkpoints stay, so the archive alone, and archive plus live, verify against a checkpoint
/// signed before, and appends, the chain and new checkpoints go on.
@Suite struct ArchiveTests {
    @Test func archivedEventsLeaveTheDatabaseAndArchivePlusLiveVerify() async throws {
        let store = try await TestDatabase.makeStore("archive", registry: .test)
        defer { Task { await store.shutdown() } }
        // 120 events in four streams: Counted is the bulk, Renamed the state kept beside it.
        for i in 1...120 {
            if i % 5 == 0 {
                _ = try await store.append(Renamed(name: "r\(i)", tags: []), to: "s-\(i % 4)", metadata: testActor)
            } else {
                _ = try await store.append(Counted(writer: "bulk", n: i), to: "s-\(i % 4)", metadata: testActor)
            }
        }
        let key = try CheckpointKey.generate(name: "test.streamd/events")
        let integrator = MerkleIntegrator(store: store, key: key)
        let before = try await integrator.checkpoint()
        let folder = NSTemporaryDirectory() + "streamd-archive-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = URL(fileURLWithPath: folder + "/first.archive")

        let archive = LogArchive(store: store)
        let result = try await archive.archive(through: 100, types: [Counted.eventType], checkpoint: before, file: file)
        // Every Counted at or below 100 except the last of each stream (s-0 ... s-3 go on past 100).
        #expect(result.count == 80, "\(result)")
        let stored = try await SQL.column(store.url, "SELECT count(*)::text FROM events")
        #expect(stored == ["40"])
        #expect(try await archive.records().map(\.through) == [100])

        // The chain goes on over the gaps; deleting an event is still refused.
        #expect(try await HashChainVerifier(store: store).verify() == .verified(count: 120))
        let refused = try await SQL.refusal(store.url, "DELETE FROM events WHERE position = 101")
        #expect(refused == "P0001", "the trigger raises: \(refused ?? "deleted")")

        // The archive alone, offline.
        let offline = try ExportVerifier.verify(file: file, key: key.verifier)
        #expect(offline.archived == 80 && offline.to == 100, "\(offline)")

        // Archive plus live against the checkpoint signed before; without the archive, it says where the events went.
        let verifier = LogVerifier(store: store, key: key.verifier)
        let whole = try await verifier.verify(against: before, archives: try ArchiveRows(files: [file]), pageSize: 16)
        #expect(whole.isVerified && whole.root == before.root, "\(whole)")
        let alone = try await verifier.verify(against: before, pageSize: 16)
        #expect(alone.failure?.position == 1 && alone.failure?.reason.contains("archived") == true, "\(alone)")

        // Appends, the tree and checkpoints go on; the old checkpoint is consistent with the new.
        for i in 121...130 { _ = try await store.append(Counted(writer: "bulk", n: i), to: "s-late", metadata: testActor) }
        let after = try await integrator.checkpoint()
        #expect(after.size == 130)
        let later = try await verifier.verify(against: after, also: [before], archives: try ArchiveRows(files: [file]), pageSize: 16)
        #expect(later.isVerified, "\(later)")
        #expect(try await MerkleTree(store: store).inclusionProof(position: 7, size: after.size).count > 0)

        // A doctored archive names the position, offline and with the database.
        let text = try String(contentsOf: file, encoding: .utf8)
        let doctored = URL(fileURLWithPath: folder + "/doctored.archive")
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.contains(#""position":7,"#) ? line.replacingOccurrences(of: "bulk", with: "bulX") : String(line)
        }
        #expect(lines.contains { $0.contains("bulX") })
        try lines.joined(separator: "\n").write(to: doctored, atomically: true, encoding: .utf8)
        #expect(throws: ExportVerifier.Rejection.self) { try ExportVerifier.verify(file: doctored, key: key.verifier) }
        let caught = try await verifier.verify(against: before, archives: try ArchiveRows(files: [doctored]), pageSize: 16)
        #expect(caught.failure?.position == 7, "\(caught)")

        // Nothing is archived twice, and a read model behind the position stops the archive.
        let again = try await archive.archive(
            through: 100, types: [Counted.eventType], checkpoint: after, file: URL(fileURLWithPath: folder + "/again.archive"))
        #expect(again.count == 0 && !FileManager.default.fileExists(atPath: folder + "/again.archive"))
        try await SQL.execute(store.url, "INSERT INTO projection_checkpoints (name, position) VALUES ('slow', 90)")
        await #expect(throws: EventStoreError.self) {
            try await archive.archive(
                through: 120, types: [Counted.eventType], checkpoint: after, file: URL(fileURLWithPath: folder + "/third.archive"))
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/third.archive"))
    }
}
