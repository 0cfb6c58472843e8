import Crypto
import Foundation

/// The id of the `n`th `QualityChanged` (in the `ingest-alert` namespace: ingest alert event) caused
/// by an event: SHA-256 of the namespace, the cause's id and `n`, as a version 8 UUID. Whoever
/// applies the cause again (a restarted projection, another node) derives the same id, so the log's
/// idempotent append keeps one copy.
enum QualityEventID {
    static func derive(cause: UUID, index: Int, namespace: String = "quality") -> UUID {
        let digest = Array(SHA256.hash(data: Data("streamd.\(namespace):\(cause.uuidString.lowercased()):\(index)".utf8)))
        var bytes = Array(digest.prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}
