import Foundation

/// One append as the spool keeps it while the database is away: everything the normal append path
/// needs to commit it later, and the node's clock when it was spooled.
struct SpooledAppend: Codable, Sendable, Hashable {
    struct Event: Codable, Sendable, Hashable {
        var id: UUID
        var type: String
        var schema: Int
        var data: String
        var metadata: EventMetadata
    }

    var stream: String
    /// "any", "noStream" or "exact" (with `version`).
    var expected: String
    var version: Int64?
    var onConflict: SpoolConflictPolicy
    var spooledAt: Date
    var events: [Event]

    init(stream: String, expected: ExpectedVersion, onConflict: SpoolConflictPolicy, events: [NewEvent], spooledAt: Date) {
        self.stream = stream
        switch expected {
        case .any: self.expected = "any"
        case .noStream: self.expected = "noStream"
        case .exact(let version):
            self.expected = "exact"
            self.version = version
        }
        self.onConflict = onConflict
        self.spooledAt = spooledAt
        self.events = events.map {
            Event(id: $0.eventId, type: $0.eventType, schema: $0.schemaVersion, data: $0.data, metadata: $0.metadata)
        }
    }

    var expectedVersion: ExpectedVersion {
        switch expected {
        case "noStream": .noStream
        case "exact": .exact(version ?? 0)
        default: .any
        }
    }

    /// The events as the append path takes them, each stamped with the node's time of spooling.
    var newEvents: [NewEvent] {
        events.map {
            var metadata = $0.metadata
            metadata.spooledAt = spooledAt
            return NewEvent(eventId: $0.id, eventType: $0.type, schemaVersion: $0.schema, data: $0.data, metadata: metadata)
        }
    }
}

/// What replay does when a spooled append's expected version no longer holds once the database
/// is back (another node or a confirmed append moved the stream meanwhile).
public enum SpoolConflictPolicy: String, Codable, Sendable, Hashable {
    /// The events are not appended; a `SpooledAppendConflicted` event records them, whole.
    case record
    /// The events are appended at the stream's end anyway.
    case appendAnyway
}

/// The spool's framing: `SPL1`, the payload's length and its CRC-32 (little-endian), then the
/// payload (JSON). A torn write or a flipped bit ends the readable prefix of a file.
enum SpoolFrame {
    static let magic: [UInt8] = Array("SPL1".utf8)
    static let headerSize = 12
    /// Far above any append the platform makes; a length past it is damage, not a record.
    static let maxPayload = 16 << 20

    static func encode(_ payload: Data) -> Data {
        var frame = Data(capacity: headerSize + payload.count)
        frame.append(contentsOf: magic)
        appendLittleEndian(UInt32(payload.count), to: &frame)
        appendLittleEndian(CRC32.checksum(payload), to: &frame)
        frame.append(payload)
        return frame
    }

    enum Outcome: Equatable {
        case record(payload: Range<Int>, next: Int)
        case end
        /// The bytes from `offset` on are not a whole, intact record.
        case damaged(offset: Int, reason: String)
    }

    /// The record that starts at `offset` in `bytes`.
    static func read(_ bytes: Data, at offset: Int) -> Outcome {
        let start = bytes.startIndex + offset
        guard start < bytes.endIndex else { return .end }
        guard bytes.endIndex - start >= headerSize else {
            return .damaged(offset: offset, reason: "a record header cut short (\(bytes.endIndex - start) of \(headerSize) bytes)")
        }
        guard Array(bytes[start..<start + 4]) == magic else { return .damaged(offset: offset, reason: "no record marker") }
        let length = Int(littleEndian(bytes, at: start + 4))
        let crc = littleEndian(bytes, at: start + 8)
        guard length <= maxPayload else { return .damaged(offset: offset, reason: "a record length of \(length) bytes") }
        let payloadStart = start + headerSize
        guard bytes.endIndex - payloadStart >= length else {
            return .damaged(offset: offset, reason: "a record cut short (\(bytes.endIndex - payloadStart) of \(length) bytes)")
        }
        let payload = payloadStart..<payloadStart + length
        guard CRC32.checksum(bytes[payload]) == crc else { return .damaged(offset: offset, reason: "a checksum mismatch") }
        return .record(payload: payload, next: offset + headerSize + length)
    }

    private static func appendLittleEndian(_ value: UInt32, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }

    private static func littleEndian(_ bytes: Data, at index: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[index + $1]) << (8 * UInt32($1)) }
    }
}

/// CRC-32 (IEEE 802.3, as zlib computes it).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { byte in
        (0..<8).reduce(UInt32(byte)) { crc, _ in crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }

    static func checksum<D: DataProtocol>(_ bytes: D) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for region in bytes.regions {
            region.withUnsafeBytes { buffer in
                for byte in buffer { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Whether an append must reach the database before it returns.
public enum AppendDurability: Sendable, Hashable {
    /// Committed, or an error: for changes a person waits on (a key rotation, a ban).
    case confirmed
    /// Committed, or spooled while the database is away: facts the platform records on its own
    /// (segments, statistics, a stream's end). On replay, an expected version that no longer holds
    /// is recorded as `SpooledAppendConflicted`.
    case spoolable
    /// As `spoolable`, but on replay a failed expected version appends at the stream's end anyway.
    case spoolableAppendingAnyway

    var conflictPolicy: SpoolConflictPolicy? {
        switch self {
        case .confirmed: nil
        case .spoolable: .record
        case .spoolableAppendingAnyway: .appendAnyway
        }
    }
}
