import ArgumentParser
import Foundation
import Node

extension EventsCommand {
    struct MakeCheckpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "checkpoint",
            abstract: "Bring the Merkle tree to the log's head, sign a checkpoint of it, and print it.",
            discussion: "The note is the C2SP tlog-checkpoint format; keep it outside the database for `events verify --checkpoint`.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var key: CheckpointKeyOptions
        @Option(help: ArgumentHelp("Also write the checkpoint to this file.", valueName: "file")) var out: String?

        func run() async throws {
            let signer = try key.loadOrCreate(dataDirectory: database.dataDirectory)
            let checkpoint = try await withDatabase(database) { store in
                try await MerkleIntegrator(store: store, key: signer).checkpoint()
            }
            if let out {
                do { try Data(checkpoint.note.utf8).write(to: URL(fileURLWithPath: out)) } catch {
                    throw CommandFailure("cannot write \(out): \(error.localizedDescription)")
                }
            }
            print(checkpoint.note, terminator: "")
        }
    }

    struct Key: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the checkpoint key's public half (C2SP vkey: NAME+HASH+BASE64), making the key if there is none.",
            discussion: "Give it to auditors: `streamd verify-export FILE --key VKEY` and `events verify --checkpoint FILE --key VKEY`.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var key: CheckpointKeyOptions

        func run() async throws {
            print(try key.loadOrCreate(dataDirectory: database.dataDirectory).verifier)
        }
    }

    struct Prove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print an inclusion proof of the event at POSITION against the latest checkpoint, and check it.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var key: CheckpointKeyOptions
        @Argument(help: "The event's position.") var position: Int64
        @Option(name: .customLong("key"), help: "The log's public key (vkey text or a file); default: the local key's.")
        var publicKey: String?

        func validate() throws {
            guard position >= 1 else { throw ValidationError("POSITION must be 1 or more") }
        }

        func run() async throws {
            let verifier = try key.verifier(explicit: publicKey, dataDirectory: database.dataDirectory)
            let (checkpoint, leaf, proof) = try await withDatabase(database) { store in
                let tree = MerkleTree(store: store)
                guard let checkpoint = try await tree.latestCheckpoint(key: verifier) else {
                    throw CommandFailure("no signed checkpoint yet; run `streamd events checkpoint` (or `serve`, which makes them)")
                }
                guard position <= checkpoint.size else {
                    throw CommandFailure(
                        "position \(position) is past the latest checkpoint (size \(checkpoint.size)); run `streamd events checkpoint` first"
                    )
                }
                return (
                    checkpoint, try await tree.leafHash(position: position),
                    try await tree.inclusionProof(position: position, size: checkpoint.size)
                )
            }
            print(checkpoint.note)
            print("position \(position) (leaf index \(position - 1)) in tree size \(checkpoint.size)")
            print("leaf hash \(base64(leaf))")
            print("inclusion proof (\(proof.count) hashes, leaf to root):")
            for hash in proof { print("  \(base64(hash))") }
            do {
                try MerkleVerifier.verifyInclusion(
                    leafHash: leaf, index: position - 1, size: checkpoint.size, proof: proof, root: checkpoint.root)
                print("verified against root \(checkpoint.rootBase64)")
            } catch {
                print("FAILED: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a consistency proof between tree sizes OLD and NEW (RFC 6962), with both roots, and check it.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The older tree size.") var old: Int64
        @Argument(help: "The newer tree size (at most the tree's size).") var new: Int64

        func validate() throws {
            guard old >= 0, old <= new else { throw ValidationError("OLD and NEW must satisfy 0 ≤ OLD ≤ NEW") }
        }

        func run() async throws {
            let (oldRoot, newRoot, proof) = try await withDatabase(database) { store in
                let tree = MerkleTree(store: store)
                let size = try await tree.size()
                guard new <= size else {
                    throw CommandFailure(
                        "the tree has \(size) events; NEW (\(new)) is past it (run `streamd events checkpoint` to extend it)")
                }
                return (
                    try await tree.root(size: old), try await tree.root(size: new),
                    try await tree.consistencyProof(oldSize: old, newSize: new)
                )
            }
            print("old size \(old) root \(base64(oldRoot))")
            print("new size \(new) root \(base64(newRoot))")
            print("consistency proof (\(proof.count) hashes):")
            for hash in proof { print("  \(base64(hash))") }
            do {
                try MerkleVerifier.verifyConsistency(oldSize: old, oldRoot: oldRoot, newSize: new, newRoot: newRoot, proof: proof)
                print("verified")
            } catch {
                print("FAILED: \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write events FROM...TO with a signed checkpoint and an inclusion proof for each, for `streamd verify-export`.")
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var key: CheckpointKeyOptions
        @Option(help: "The first position.") var from: Int64 = 1
        @Option(help: "The last position (default: the log's head).") var to: Int64?
        @Option(help: ArgumentHelp("The export file.", valueName: "file")) var out: String

        func run() async throws {
            let signer = try key.loadOrCreate(dataDirectory: database.dataDirectory)
            let (count, checkpoint) = try await withDatabase(database) { store in
                var last = to ?? 0
                if to == nil { last = try await store.headPosition() }
                var checkpoint = try await MerkleTree(store: store).latestCheckpoint(key: signer.verifier)
                if checkpoint.map({ $0.size < last }) ?? true {
                    checkpoint = try await MerkleIntegrator(store: store, key: signer).checkpoint()
                }
                guard let checkpoint else { throw CommandFailure("no checkpoint could be made") }
                guard from >= 1, from <= last, last <= checkpoint.size else {
                    throw CommandFailure("--from and --to must satisfy 1 ≤ FROM ≤ TO ≤ \(checkpoint.size) (the log's size)")
                }
                let count = try await LogExport(store: store).write(
                    from: from, to: last, checkpoint: checkpoint, file: URL(fileURLWithPath: out))
                return (count, checkpoint)
            }
            print(
                "\(count) events written to \(out), proven against the checkpoint of size \(checkpoint.size), root \(checkpoint.rootBase64)"
            )
            print("check it with: streamd verify-export \(out) --key \(signer.verifier)")
        }
    }
}
