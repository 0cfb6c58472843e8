import ArgumentParser
import Foundation
import Node

extension EventsCommand {
    /// `streamd events archive`: old bulky history out of PostgreSQL, into a file that proves itself.
    struct Archive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move events at or below a position out of the database into a file holding their proofs.",
            discussion: """
                Each event of the given types (default: \(defaultTypes.joined(separator: ", "))) at or below THROUGH, \
                except the last of its stream, is written to FILE with its inclusion proof against a signed checkpoint \
                and its hash-chain value, then deleted from the log in the same transaction. The Merkle tree and the \
                checkpoints stay: `streamd events verify --checkpoint CP --archive FILE` checks archive and live \
                together, `streamd verify-export FILE --key VKEY` checks the file alone. Read models keep what they \
                folded; a rebuild from position 0 (`events replay`) no longer sees archived events. Needs the schema \
                owner (the embedded cluster's, or --database-owner-url).
                """)
        static let defaultTypes = [SegmentPublished.eventType, IngestStatsSampled.eventType]

        @OptionGroup var database: DatabaseOptions
        @OptionGroup var key: CheckpointKeyOptions
        @Option(help: "Archive events at or below this position.") var through: Int64?
        @Option(help: "Archive only this event type (repeatable).") var type: [String] = []
        @Option(help: ArgumentHelp("The archive file to write (never overwritten).", valueName: "file")) var out: String?
        @Flag(help: "List the archives written so far and stop.") var list = false

        func validate() throws {
            guard list || (through != nil && out != nil) else { throw ValidationError("give --through N and --out FILE (or --list)") }
            if let through, through < 1 { throw ValidationError("--through must be 1 or more") }
        }

        func run() async throws {
            if list {
                let records = try await withDatabase(database) { try await LogArchive(store: $0).records() }
                if records.isEmpty { print("no archives") }
                for record in records {
                    print("through #\(record.through)  \(record.count) events  \(record.file)  \(record.archivedAt.formatted(.iso8601))")
                }
                return
            }
            guard let through, let out else { return }
            let signer = try key.loadOrCreate(dataDirectory: database.dataDirectory)
            let file = URL(fileURLWithPath: out)
            let result = try await withDatabase(database) { store in
                var checkpoint = try await MerkleTree(store: store).latestCheckpoint(key: signer.verifier)
                if checkpoint.map({ $0.size < through }) ?? true {
                    checkpoint = try await MerkleIntegrator(store: store, key: signer).checkpoint()
                }
                guard let checkpoint, checkpoint.size >= through else {
                    throw CommandFailure("--through \(through) is past the log's head; give a position the log has")
                }
                do {
                    return try await LogArchive(store: store).archive(
                        through: through, types: type.isEmpty ? Self.defaultTypes : type, checkpoint: checkpoint, file: file)
                } catch let error as EventStoreError {
                    throw CommandFailure("\(error)")
                }
            }
            print(result)
            print(
                "keep the file where the database's holder cannot rewrite it; check it with: streamd verify-export \(out) --key \(signer.verifier)"
            )
        }
    }
}
