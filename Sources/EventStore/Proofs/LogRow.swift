import Foundation
import Logging
import PostgresNIO

/// One `events` row as stored, read column by column, with the bytes its hashes cover computed
/// here (`HashChain.canonical`): what the verifiers, the integrator and exports hash.
public struct LogRow: Sendable, Equatable, Codable {
    public let position: Int64
    public let streamId: String
    public let streamVersion: Int64
    public let eventId: UUID
    public let eventType: String
    public let schemaVersion: Int
    /// The JSON texts exactly as stored (`json` keeps its input text).
    public let data: String
    public let metadata: String
    /// `recorded_at` as integer microseconds since 1970, as the SQL canonical text has it.
    public let recordedMicroseconds: Int64
    /// The stored hash-chain value (not exported: the tree, not the chain, is what exports prove).
    public var chainHash: [UInt8]? = nil

    enum CodingKeys: String, CodingKey {
        case position, streamId, streamVersion, eventId, eventType, schemaVersion, data, metadata, recordedMicroseconds
    }

    public var canonical: [UInt8] {
        HashChain.canonical(
            position: position, streamId: Array(streamId.utf8), streamVersion: streamVersion, eventId: eventId,
            eventType: Array(eventType.utf8), schemaVersion: schemaVersion, data: Array(data.utf8), metadata: Array(metadata.utf8),
            recordedMicroseconds: recordedMicroseconds)
    }

    public var leafHash: Merkle.Hash { Merkle.leafHash(canonical) }

    /// The event as readers see it (an archived one, for `vod verify --archive`).
    public func recorded() throws -> RecordedEvent {
        RecordedEvent(
            position: position, streamId: streamId, streamVersion: streamVersion, eventId: eventId, eventType: eventType,
            schemaVersion: schemaVersion, data: Data(data.utf8),
            metadata: try EventCoding.decoder().decode(EventMetadata.self, from: Data(metadata.utf8)),
            recordedAt: Date(timeIntervalSince1970: Double(recordedMicroseconds) / 1_000_000), hash: chainHash ?? [])
    }

    static let columns = "position, stream_id, stream_version, event_id, event_type, schema_version, data, metadata, recorded_at, hash"

    /// PostgreSQL's timestamps count microseconds from 2000-01-01.
    static let postgresEpochMicroseconds: Int64 = 946_684_800_000_000

    /// Rows with positions in `after+1 ... through`, at most `limit`, in order.
    static func read(
        after: Int64, through: Int64, limit: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> [LogRow] {
        let rows = try await connection.query(
            "SELECT \(unescaped: columns) FROM events WHERE position > \(after) AND position <= \(through) ORDER BY position LIMIT \(Int64(limit))",
            logger: logger)
        // Collected, then decoded: iterating the sequence row by row cost more than the hashing.
        let page = try await rows.collect()
        var result: [LogRow] = []
        result.reserveCapacity(page.count)
        for row in page { result.append(try LogRow(row.makeRandomAccess())) }
        return result
    }

    /// The rows at `positions` that are stored, in order.
    static func read(positions: [Int64], on connection: PostgresConnection, logger: Logger) async throws -> [LogRow] {
        let rows = try await connection.query(
            "SELECT \(unescaped: columns) FROM events WHERE position = ANY(\(positions)) ORDER BY position", logger: logger)
        return try await rows.collect().map { try LogRow($0.makeRandomAccess()) }
    }

    init(_ cells: PostgresRandomAccessRow) throws {
        guard cells.count == 10 else { throw EventStoreError.database("an events row came back with \(cells.count) columns, expected 10") }
        func text(_ i: Int, _ types: [PostgresDataType]) throws -> String {
            let cell = cells[i]
            guard types.contains(cell.dataType), var bytes = cell.bytes else {
                throw EventStoreError.database(
                    "events.\(cell.columnName) is \(cell.dataType) or null; this verifier reads text and json columns")
            }
            return bytes.readString(length: bytes.readableBytes) ?? ""
        }
        let recorded = cells[8]
        guard recorded.dataType == .timestamptz, recorded.format == .binary, var stamp = recorded.bytes,
            let sincePostgresEpoch = stamp.readInteger(as: Int64.self)
        else {
            throw EventStoreError.database("events.recorded_at did not come back as a binary timestamptz")
        }
        self.position = try cells[0].decode(Int64.self)
        self.streamId = try text(1, [.text, .varchar])
        self.streamVersion = try cells[2].decode(Int64.self)
        self.eventId = try cells[3].decode(UUID.self)
        self.eventType = try text(4, [.text, .varchar])
        self.schemaVersion = Int(try cells[5].decode(Int32.self))
        self.data = try text(6, [.json])
        self.metadata = try text(7, [.json])
        self.recordedMicroseconds = sincePostgresEpoch &+ Self.postgresEpochMicroseconds
        self.chainHash = cells[9].bytes.map { Array(buffer: $0) }
    }
}
