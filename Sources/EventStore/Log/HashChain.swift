import Crypto
import Foundation

/// The log's hash chain on this side of the wire: the same bytes `streamd_event_canonical`
/// (migrations/0007) renders from a stored row, so the group committer can hash a batch before
/// sending it and `streamd events verify` still recomputes every hash from the rows alone.
enum HashChain {
    static let genesis = [UInt8](repeating: 0, count: 32)

    /// Fields joined by U+001F: PostgreSQL's `concat_ws(E'\x1f', …)` of integers in decimal, the
    /// UUID in lower case, the JSON texts as stored (json keeps its input text) and the recorded
    /// time as integer microseconds since 1970.
    static func canonical(
        position: Int64, streamId: String, streamVersion: Int64, eventId: UUID, eventType: String,
        schemaVersion: Int, data: String, metadata: String, recordedMicroseconds: Int64
    ) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.utf8.count + metadata.utf8.count + streamId.utf8.count + eventType.utf8.count + 96)
        func field(_ text: String, last: Bool = false) {
            bytes.append(contentsOf: text.utf8)
            if !last { bytes.append(0x1F) }
        }
        field(String(position))
        field(streamId)
        field(String(streamVersion))
        field(eventId.uuidString.lowercased())
        field(eventType)
        field(String(schemaVersion))
        field(data)
        field(metadata)
        field(String(recordedMicroseconds), last: true)
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
