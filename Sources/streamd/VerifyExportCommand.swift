import ArgumentParser
import Foundation
import Node

/// `streamd verify-export`: checks an export offline, trusting only the log's public key.
struct VerifyExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-export",
        abstract:
            "Check an `events export` file with no database: its checkpoint's signature, every event's inclusion proof, completeness.",
        discussion: "Exits 0 naming the verified range, or 1 with the reason (a mutated proof or event, truncation, another key, a fork).")
    @Argument(help: "The export file.") var file: String
    @Option(help: "The log's public key: the vkey text `streamd events key` prints, or a file holding it.") var key: String
    @Option(
        help: ArgumentHelp(
            "Another checkpoint of the same log (repeatable): a same-size one with another root is a fork.", valueName: "file"))
    var checkpoint: [String] = []
    @Option(help: ArgumentHelp("Every *.checkpoint in this folder, likewise.", valueName: "dir")) var checkpointDir: [String] = []

    func run() async throws {
        let verifier: CheckpointVerifierKey
        do { verifier = try CheckpointVerifierKey.parse(argument: key) } catch { throw CommandFailure("--key: \(error)") }
        let others = try readCheckpointNotes(files: checkpoint, directories: checkpointDir)
        do {
            let result = try ExportVerifier.verify(file: URL(fileURLWithPath: file), key: verifier, otherCheckpoints: others)
            print(result)
        } catch {
            print("REJECTED: \(error)")
            throw ExitCode(1)
        }
    }
}
