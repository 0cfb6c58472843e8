import Crypto
import Foundation

/// The log's hash chain on this side of the wire: the same bytes `streamd_event_canonical`
/// (migrations/0007) renders from a stored row, so the group committer can hash a batch before
/// sending it, and the verifiers and the Merkle tree compute every row's bytes here, from its raw
/// columns, never through a function stored in the database (`LogRow`).
enum HashChain {
    static let genesis = [UInt8](repeating: 0, count: 32)

    /// Fields joined by U+001F: PostgreSQL's `concat_ws(E'\x1f', …)` of integers in decimal, the
    /// UUID in lower case, the JSON texts as stored (json keeps its input text) and the recorded
    /// time as integer microseconds since 1970.
    static func canonical(
        position: Int64, streamId: String, streamVersion: Int64, eventId: UUID, eventType: String,
        schemaVersion: Int, data: String, metadata: String, recordedMicroseconds: Int64
    ) -> [UInt8] {
        canonical(
            position: position, streamId: Array(streamId.utf8), streamVersion: streamVersion, eventId: eventId,
            eventType: Array(eventType.utf8), schemaVersion: schemaVersion, data: Array(data.utf8), metadata: Array(metadata.utf8),
            recordedMicroseconds: recordedMicroseconds)
    }

    /// The same from the stored bytes of the text columns (what a verifier reads off a row).
    static func canonical(
        position: Int64, streamId: [UInt8], streamVersion: Int64, eventId: UUID, eventType: [UInt8],
        schemaVersion: Int, data: [UInt8], metadata: [UInt8], recordedMicroseconds: Int64
    ) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count + metadata.count + streamId.count + eventType.count + 96)
        func field(_ text: [UInt8], last: Bool = false) {
            bytes.append(contentsOf: text)
            if !last { bytes.append(0x1F) }
        }
        field(Array(String(position).utf8))
        field(streamId)
        field(Array(String(streamVersion).utf8))
        field(Array(eventId.uuidString.lowercased().utf8))
        field(eventType)
        field(Array(String(schemaVersion).utf8))
        field(data)
        field(metadata)
        field(Array(String(recordedMicroseconds).utf8), last: true)
        return bytes
    }

    /// SHA-256 over the previous hash and this row's canonical bytes.
    static func next(after previous: [UInt8], canonical: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: previous)
        hasher.update(data: canonical)
        return Array(hasher.finalize())
    }
}
