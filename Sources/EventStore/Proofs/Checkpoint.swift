import Foundation

/// A signed tree head in the C2SP tlog-checkpoint format, as a C2SP signed note:
///
///     ORIGIN
///     SIZE
///     BASE64(ROOT)
///     time UNIX_MILLISECONDS
///
///     — NAME BASE64(KEY_HASH || ED25519_SIGNATURE)
///
/// The time is an extension line, so it is signed with the rest.
public struct Checkpoint: Sendable, Hashable, CustomStringConvertible {
    public let origin: String
    public let size: Int64
    public let root: Merkle.Hash
    public let time: Date
    /// The whole note, signature lines included, as stored and exported.
    public let note: String

    public var description: String { note }

    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    static let maximumNoteBytes = 64 * 1024

    public static func body(origin: String, size: Int64, root: Merkle.Hash, time: Date) -> String {
        let milliseconds = Int64((time.timeIntervalSince1970 * 1000).rounded())
        return "\(origin)\n\(size)\n\(Data(root).base64EncodedString())\ntime \(milliseconds)\n"
    }

    public static func sign(size: Int64, root: Merkle.Hash, time: Date, key: CheckpointKey) throws -> Checkpoint {
        let text = body(origin: key.name, size: size, root: root, time: time)
        let signature = try key.sign(Array(text.utf8))
        let line = "\u{2014} \(key.name) \(Data(key.verifier.keyID + signature).base64EncodedString())\n"
        return try Checkpoint(note: text + "\n" + line, key: key.verifier)
    }

    /// Parses `note` and checks that `key` signed it; every way a note can be wrong is a `Problem`
    /// saying which.
    public init(note: String, key: CheckpointVerifierKey) throws(Problem) {
        let bytes = Array(note.utf8)
        guard bytes.count <= Self.maximumNoteBytes else {
            throw Problem("the checkpoint is \(bytes.count) bytes; a checkpoint is a few hundred")
        }
        guard let split = note.range(of: "\n\n", options: .backwards) else {
            throw Problem("not a signed checkpoint: no blank line between the checkpoint and its signatures")
        }
        let text = String(note[..<split.lowerBound]) + "\n"
        let signatureLines = note[split.upperBound...].split(separator: "\n", omittingEmptySubsequences: false)
        guard signatureLines.last == "", signatureLines.count >= 2 else {
            throw Problem("not a signed checkpoint: it must end with signature lines, each ending in a newline")
        }
        var signedByKey = false
        var signers: [String] = []
        for line in signatureLines.dropLast() {
            guard line.hasPrefix("\u{2014} ") else { throw Problem("not a signature line: \"\(line.prefix(80))\"") }
            let fields = line.dropFirst(2).split(separator: " ", omittingEmptySubsequences: false)
            guard fields.count == 2, let raw = Data(base64Encoded: String(fields[1])), raw.count >= 5 else {
                throw Problem("a malformed signature line: \"\(line.prefix(80))\"")
            }
            signers.append(String(fields[0]))
            guard fields[0] == key.name, Array(raw.prefix(4)) == key.keyID else { continue }
            guard raw.count == 68, key.isValid(signature: Array(raw.dropFirst(4)), for: Array(text.utf8)) else {
                throw Problem("the signature by \(key.name) does not verify: the checkpoint was altered or forged")
            }
            signedByKey = true
        }
        guard signedByKey else {
            throw Problem(
                "the checkpoint is not signed by the key \(key.name)+\(key.keyIDHex) (signed by: \(signers.joined(separator: ", "))); was it made by another log or key?"
            )
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        guard lines.count >= 3 else { throw Problem("a checkpoint needs an origin, a size and a root hash") }
        let parts = Array(lines)
        guard parts[0] == key.name else {
            throw Problem("the checkpoint's origin \"\(parts[0])\" is not the key's name \"\(key.name)\"")
        }
        guard let size = Int64(parts[1]), size >= 0, String(size) == parts[1] else {
            throw Problem("the checkpoint's size \"\(parts[1].prefix(40))\" is not a decimal number")
        }
        guard let root = Data(base64Encoded: String(parts[2])), root.count == 32 else {
            throw Problem("the checkpoint's root hash is not 32 bytes of base64")
        }
        var time = Date(timeIntervalSince1970: 0)
        for line in parts.dropFirst(3) where line.hasPrefix("time ") {
            guard let milliseconds = Int64(line.dropFirst(5)) else { throw Problem("the checkpoint's time line is malformed") }
            time = Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        }
        self.origin = String(parts[0])
        self.size = size
        self.root = Array(root)
        self.time = time
        self.note = note
    }

    public var rootBase64: String { Data(root).base64EncodedString() }
    public var rootHex: String { root.map { String(format: "%02x", $0) }.joined() }
}
