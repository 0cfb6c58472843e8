import Crypto
import Foundation

/// A data subject's key (a viewer's): personal fields of events are sealed under it with AES-GCM,
/// so destroying the key erases them while the log's bytes, its hash chain and every proof over
/// it stay as they were (docs/architecture.md#personal-data-and-erasure). Keys live outside the
/// log, in a table of their own; the log holds only `SealedEnvelope`s naming the key by `id`.
public struct DataKey: Sendable {
    public let id: UUID
    let key: SymmetricKey

    /// Bytes of a key: 256 bits.
    public static let byteCount = 32

    /// A fresh random key.
    public static func generate() -> DataKey {
        DataKey(id: UUID(), key: SymmetricKey(size: .bits256))
    }

    /// A key read back from storage; nil unless `bytes` is 32 bytes long.
    public init?(id: UUID, bytes: some ContiguousBytes) {
        let key = SymmetricKey(data: bytes)
        guard key.bitCount == Self.byteCount * 8 else { return nil }
        self.init(id: id, key: key)
    }

    init(id: UUID, key: SymmetricKey) {
        self.id = id
        self.key = key
    }

    /// The key's bytes, to store.
    public var bytes: [UInt8] { key.withUnsafeBytes { Array($0) } }

    /// Seals `value`'s JSON. `context` (the event type and the subject, say) is authenticated but
    /// not stored: an envelope opens only in the context it was sealed for, so it cannot be moved
    /// to another event or subject.
    public func seal(_ value: some Encodable, context: String) throws -> SealedEnvelope {
        let plaintext = try EventCoding.encoder().encode(value)
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(context.utf8))
        guard let combined = box.combined else { throw SealedEnvelope.Failure.malformed("AES-GCM gave no combined form") }
        return SealedEnvelope(version: SealedEnvelope.currentVersion, keyId: id, box: combined.base64EncodedString())
    }

    /// The value sealed in `envelope`; throws when it was sealed under another key or context,
    /// or its bytes were altered.
    public func open<T: Decodable>(_ envelope: SealedEnvelope, as type: T.Type, context: String) throws -> T {
        guard envelope.keyId == id else { throw SealedEnvelope.Failure.wrongKey(envelope.keyId) }
        guard envelope.version == SealedEnvelope.currentVersion else { throw SealedEnvelope.Failure.unsupportedVersion(envelope.version) }
        guard let combined = Data(base64Encoded: envelope.box) else { throw SealedEnvelope.Failure.malformed("box is not base64") }
        let plaintext: Data
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            plaintext = try AES.GCM.open(box, using: key, authenticating: Data(context.utf8))
        } catch {
            throw SealedEnvelope.Failure.unauthentic
        }
        return try EventCoding.decoder().decode(T.self, from: plaintext)
    }
}

/// Personal fields sealed under a `DataKey`, as stored in an event's JSON:
/// `{"v":1,"key":"<key id>","box":"<base64 of nonce ‖ ciphertext ‖ tag>"}`.
public struct SealedEnvelope: Codable, Sendable, Hashable {
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case wrongKey(UUID)
        case unsupportedVersion(Int)
        case malformed(String)
        /// Altered bytes, another key's bytes under this id, or another context.
        case unauthentic

        public var description: String {
            switch self {
            case .wrongKey(let id): "sealed under key \(id), not this one"
            case .unsupportedVersion(let version): "envelope version \(version) is newer than this build's; upgrade streamd"
            case .malformed(let reason): "malformed sealed envelope: \(reason)"
            case .unauthentic: "the sealed envelope does not authenticate under its key (altered, or moved from another event)"
            }
        }
    }

    /// 1: AES-256-GCM, 12-byte random nonce, 16-byte tag, the context as associated data.
    public static let currentVersion = 1

    public var version: Int
    public var keyId: UUID
    public var box: String

    enum CodingKeys: String, CodingKey {
        case version = "v"
        case keyId = "key"
        case box
    }
}

/// Personal fields of an event: sealed (what the platform writes), or plain (events recorded
/// before fields were sealed, upcast to this shape, and test fixtures). Stored as
/// `{"sealed": envelope}` or `{"plain": fields}`.
public enum PersonalData<Fields: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    case plain(Fields)
    case sealed(SealedEnvelope)

    enum CodingKeys: String, CodingKey { case plain, sealed }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let envelope = try container.decodeIfPresent(SealedEnvelope.self, forKey: .sealed) {
            self = .sealed(envelope)
        } else {
            self = .plain(try container.decode(Fields.self, forKey: .plain))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .plain(let fields): try container.encode(fields, forKey: .plain)
        case .sealed(let envelope): try container.encode(envelope, forKey: .sealed)
        }
    }

    /// The key the fields are sealed under; nil when plain.
    public var keyId: UUID? {
        if case .sealed(let envelope) = self { envelope.keyId } else { nil }
    }

    /// An upcaster step that moves `fields` of an older event's top-level object into
    /// `{"<into>": {"plain": {...}}}` (keys absent in the old JSON are left out).
    public static func upcastPlain(_ fields: [String], into key: String) -> EventRegistry.Upcaster {
        { json in
            guard case .object(var object) = json else { return json }
            var plain: [String: JSONValue] = [:]
            for field in fields {
                if let value = object.removeValue(forKey: field) { plain[field] = value }
            }
            object[key] = .object(["plain": .object(plain)])
            return .object(object)
        }
    }
}
