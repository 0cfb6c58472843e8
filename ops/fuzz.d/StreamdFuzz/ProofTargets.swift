import EventStore
import Foundation

/// What an auditor is handed: an export file (`streamd verify-export`) and the checkpoints beside it.
enum ProofTargets {
    /// The public key the committed seeds were signed with (a key made for the fuzzer alone).
    /// Parsed per input: a global holding it reads as a leak to LeakSanitizer.
    static var key: CheckpointVerifierKey {
        guard let key = try? CheckpointVerifierKey(encoded: "streamd.vm/events+e1230e7c+AZ/OPz0uko/BzLh2aHRqHvNUZdUCVP2Q8XME+HD14MYL")
        else { fatalError("the fuzzer's checkpoint key does not parse") }
        return key
    }

    /// The verifier either accepts or says why not; what it accepts must hold together.
    @Sendable static func export(_ data: [UInt8]) {
        guard let result = try? ExportVerifier.verify(data: Data(data), key: key) else { return }
        guard result.from >= 1, result.from <= result.to, result.to <= result.checkpoint.size else {
            fatalError("an export of \(result.from)...\(result.to) passed against a checkpoint of size \(result.checkpoint.size)")
        }
    }

    /// A checkpoint note given beside an export (`--checkpoint FILE`).
    @Sendable static func checkpoint(_ data: [UInt8]) {
        guard let checkpoint = try? Checkpoint(note: String(decoding: data, as: UTF8.self), key: key) else { return }
        guard checkpoint.size >= 0, checkpoint.root.count == 32 else {
            fatalError("a checkpoint of size \(checkpoint.size) with a \(checkpoint.root.count)-byte root passed")
        }
    }
}
