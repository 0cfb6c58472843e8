import ArgumentParser
import Foundation
import Node

/// `events verify --checkpoint FILE`: the log against signed checkpoints kept outside it.
struct CheckpointVerifyOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A signed checkpoint kept outside the database (`events checkpoint --out`); the log is verified up to its size. Repeatable: two of the same size with different roots are reported as a fork.",
            valueName: "file"))
    var checkpoint: [String] = []
    @Option(
        help: ArgumentHelp("Every *.checkpoint in this folder (as `serve --checkpoint-dir` writes them) is trusted too.", valueName: "dir"))
    var checkpointDir: [String] = []
    @Option(
        help: ArgumentHelp(
            "A file of `streamd events archive` (repeatable): its events stand in for the rows it moved out of the database.",
            valueName: "file"))
    var archive: [String] = []
    @Option(help: "The log's public key (vkey text or a file); default: the local key's.") var key: String?
    @OptionGroup var signing: CheckpointKeyOptions

    func run(database: DatabaseOptions) async throws {
        let verifier = try signing.verifier(explicit: key, dataDirectory: database.dataDirectory)
        var parsed: [Checkpoint] = []
        for (i, note) in try readCheckpointNotes(files: checkpoint, directories: checkpointDir).enumerated() {
            do { parsed.append(try Checkpoint(note: note, key: verifier)) } catch {
                let name = i < checkpoint.count ? checkpoint[i] : "a checkpoint in --checkpoint-dir"
                throw CommandFailure("\(name): \(error)")
            }
        }
        // The largest given checkpoint is the one verified up to; the others are checked on the way.
        guard let target = parsed.max(by: { $0.size < $1.size }) else { return }
        var archives: ArchiveRows?
        if !archive.isEmpty {
            do { archives = try ArchiveRows(files: archive.map { URL(fileURLWithPath: $0) }) } catch { throw CommandFailure("\(error)") }
        }
        let report = try await withDatabase(database) { [archives] store in
            try await LogVerifier(store: store, key: verifier).verify(against: target, also: parsed, archives: archives)
        }
        print(report)
        if !report.isVerified { throw ExitCode(1) }
    }
}
