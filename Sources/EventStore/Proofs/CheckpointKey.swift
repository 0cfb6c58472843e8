import Crypto
import Foundation

/// The Ed25519 key that signs checkpoints, in the C2SP signed-note key formats
/// (`PRIVATE+KEY+NAME+HASH+BASE64` and the verifier key `NAME+HASH+BASE64`, as Go's
/// golang.org/x/mod/sumdb/note writes them). The name is the log's origin.
public struct CheckpointKey: Sendable {
    public let name: String
    let privateKey: Curve25519.Signing.PrivateKey

    public var verifier: CheckpointVerifierKey {
        CheckpointVerifierKey(name: name, publicKey: privateKey.publicKey.rawRepresentation)
    }

    public static func generate(name: String) throws(CheckpointVerifierKey.Problem) -> CheckpointKey {
        try CheckpointVerifierKey.checkName(name)
        return CheckpointKey(name: name, privateKey: Curve25519.Signing.PrivateKey())
    }

    init(name: String, privateKey: Curve25519.Signing.PrivateKey) {
        self.name = name
        self.privateKey = privateKey
    }

    public init(encoded text: String) throws(CheckpointVerifierKey.Problem) {
        // The base64 key may hold '+' itself: it is whatever follows the fourth '+'.
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: "+", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "PRIVATE", parts[1] == "KEY",
            let raw = Data(base64Encoded: String(parts[4])), raw.count == 33, raw.first == 0x01,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw.dropFirst())
        else {
            throw .init(description: "not a checkpoint signing key (expected PRIVATE+KEY+NAME+HASH+BASE64 with an Ed25519 key)")
        }
        let name = String(parts[2])
        try CheckpointVerifierKey.checkName(name)
        self.init(name: name, privateKey: key)
        guard String(parts[3]) == verifier.keyIDHex else {
            throw .init(description: "the signing key's hash \(parts[3]) does not match its name and key (\(verifier.keyIDHex))")
        }
    }

    public var encoded: String {
        "PRIVATE+KEY+\(name)+\(verifier.keyIDHex)+\(Data([UInt8(0x01)] + Array(privateKey.rawRepresentation)).base64EncodedString())"
    }

    public func sign(_ message: [UInt8]) throws -> [UInt8] {
        Array(try privateKey.signature(for: message))
    }

    /// The key in `file`, created (mode 0600) with `name` when there is none.
    public static func loadOrCreate(_ file: URL, name: String) throws -> CheckpointKey {
        if let text = try SecretFile.read(file) { return try CheckpointKey(encoded: text) }
        let key = try generate(name: name)
        do {
            try SecretFile.create(file, text: key.encoded)
        } catch {
            // Another process made it first: use theirs.
            if let text = try SecretFile.read(file) { return try CheckpointKey(encoded: text) }
            throw error
        }
        return key
    }

    public static func load(_ file: URL) throws -> CheckpointKey {
        guard let text = try SecretFile.read(file) else {
            throw CheckpointVerifierKey.Problem(description: "no checkpoint key at \(file.path)")
        }
        return try CheckpointKey(encoded: text)
    }

    /// A default log name from the host: a C2SP origin needs no particular form, only no spaces or '+'.
    public static func defaultName(host: String = ProcessInfo.processInfo.hostName) -> String {
        let cleaned = host.unicodeScalars.map {
            CharacterSet.alphanumerics.contains($0) || "-._".unicodeScalars.contains($0) ? Character($0) : "-"
        }
        return "streamd.\(String(cleaned).isEmpty ? "local" : String(cleaned))/events"
    }
}

/// The public half: checks checkpoint signatures. Printed as `NAME+HASH+BASE64` (C2SP vkey).
public struct CheckpointVerifierKey: Sendable, Hashable, CustomStringConvertible {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    public let name: String
    public let publicKey: Data

    init(name: String, publicKey: Data) {
        self.name = name
        self.publicKey = publicKey
    }

    /// The 4-byte key hash: SHA-256(name || "\n" || 0x01 || public key), its first four bytes.
    public var keyID: [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array(name.utf8) + [0x0A, 0x01])
        hasher.update(data: publicKey)
        return Array(hasher.finalize().prefix(4))
    }

    var keyIDHex: String { keyID.map { String(format: "%02x", $0) }.joined() }

    public var description: String { "\(name)+\(keyIDHex)+\(Data([UInt8(0x01)] + Array(publicKey)).base64EncodedString())" }

    public init(encoded text: String) throws(Problem) {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(
            separator: "+", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let raw = Data(base64Encoded: String(parts[2])), raw.count == 33, raw.first == 0x01 else {
            throw Problem(
                description: "not a checkpoint verifier key (expected NAME+HASH+BASE64 with an Ed25519 key, as `streamd events key` prints)"
            )
        }
        let name = String(parts[0])
        try Self.checkName(name)
        self.init(name: name, publicKey: Data(raw.dropFirst()))
        guard String(parts[1]) == keyIDHex else {
            throw Problem(description: "the verifier key's hash \(parts[1]) does not match its name and key (\(keyIDHex))")
        }
    }

    /// A key given on the command line: the vkey text itself, or a file holding it (or the
    /// private key, whose public half is taken).
    public static func parse(argument: String) throws -> CheckpointVerifierKey {
        if let key = try? CheckpointVerifierKey(encoded: argument) { return key }
        guard FileManager.default.fileExists(atPath: argument) else {
            throw Problem(description: "--key \(argument): neither a verifier key (NAME+HASH+BASE64) nor a file holding one")
        }
        let text = try String(contentsOfFile: argument, encoding: .utf8)
        if text.hasPrefix("PRIVATE+KEY+") { return try CheckpointKey(encoded: text).verifier }
        return try CheckpointVerifierKey(encoded: text)
    }

    func isValid(signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: publicKey) else { return false }
        return key.isValidSignature(signature, for: message)
    }

    static func checkName(_ name: String) throws(Problem) {
        guard !name.isEmpty, !name.contains("+"), !name.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 })
        else {
            throw Problem(description: "a key name must be non-empty, without spaces or '+' (got \"\(name)\")")
        }
    }
}
