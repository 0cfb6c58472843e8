import ArgumentParser
import Foundation
import Node

/// `--checkpoint-key`: the Ed25519 key that signs the log's checkpoints, shared by `serve` and
/// the `events` commands that sign or check them.
struct CheckpointKeyOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "File holding the checkpoint signing key (C2SP PRIVATE+KEY+… text, mode 0600); made on first use. (env STREAMD_CHECKPOINT_KEY, default DATA_DIR/checkpoint-key)",
            valueName: "path"))
    var checkpointKey: String?

    func file(dataDirectory: URL) -> URL {
        if let path = checkpointKey ?? Environment.string("CHECKPOINT_KEY") { return URL(fileURLWithPath: path) }
        return dataDirectory.appendingPathComponent("checkpoint-key")
    }

    func loadOrCreate(dataDirectory: URL) throws -> CheckpointKey {
        do {
            try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
            return try CheckpointKey.loadOrCreate(file(dataDirectory: dataDirectory), name: CheckpointKey.defaultName())
        } catch {
            throw CommandFailure("checkpoint key: \(error)")
        }
    }

    /// The verifier key: `--key` (a C2SP vkey, or a file holding one) or the local signing key's.
    func verifier(explicit: String?, dataDirectory: URL) throws -> CheckpointVerifierKey {
        if let explicit {
            do { return try CheckpointVerifierKey.parse(argument: explicit) } catch { throw CommandFailure("--key: \(error)") }
        }
        let file = file(dataDirectory: dataDirectory)
        do {
            return try CheckpointKey.load(file).verifier
        } catch {
            throw CommandFailure("no --key given and the local key cannot be used (\(error)); pass the log's public key with --key")
        }
    }
}

/// Checkpoint notes from files and folders (every regular file in a folder, as `--checkpoint-dir` writes them).
func readCheckpointNotes(files: [String], directories: [String]) throws -> [String] {
    var paths = files
    for directory in directories {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw CommandFailure("cannot list \(directory): \(error.localizedDescription)")
        }
        paths += names.filter { $0.hasSuffix(".checkpoint") }.sorted().map { directory + "/" + $0 }
    }
    return try paths.map { path in
        do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw CommandFailure("cannot read the checkpoint \(path): \(error.localizedDescription)")
        }
    }
}

func base64(_ hash: [UInt8]) -> String { Data(hash).base64EncodedString() }
