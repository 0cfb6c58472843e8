import Crypto
import Foundation
import Logging
import PostgresNIO

/// A read model's stable hash (docs/architecture.md#time-travel-read-models-as-of-any-position):
/// SHA-256 over a canonical serialization, so a model rebuilt from the log and the live one can be
/// compared without moving either.
///
/// - In-memory models: canonical JSON (keys sorted, no whitespace, `/` unescaped, times as integer
///   microseconds since 1970), hashed whole.
/// - SQL models: each table's rows as PostgreSQL's `row_to_json` text (TimeZone UTC), sorted
///   bytewise, each followed by a newline, hashed; the model's hash is SHA-256 over
///   `TABLE SP TABLEHASH LF` for its tables in the projection's order.
public enum ReadModelHash {
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(microseconds(date))
        }
        return encoder
    }

    /// Microseconds since 1970: PostgreSQL's precision, so a time read back from a table and the
    /// same time from an event agree.
    public static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    public static func canonical(_ value: some Encodable) throws -> Data {
        try encoder().encode(value)
    }

    public static func hex(_ data: some DataProtocol) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// The model hash of per-table hashes, in the projection's table order.
    public static func combine(_ tables: [(name: String, hash: String)]) -> String {
        hex(Data(tables.map { "\($0.name) \($0.hash)\n" }.joined().utf8))
    }

    /// One table's hash and row count, read on `connection` (in its transaction's snapshot).
    /// `relation` is schema-qualified and already quoted where needed.
    static func table(_ relation: String, on connection: PostgresConnection, logger: Logger) async throws -> (hash: String, rows: Int) {
        var hasher = SHA256()
        var rows = 0
        let query = PostgresQuery(
            unsafeSQL: "SELECT r FROM (SELECT row_to_json(t)::text AS r FROM \(relation) t) s ORDER BY r COLLATE \"C\"")
        for try await row in try await connection.query(query, logger: logger).decode(String.self) {
            hasher.update(data: Data(row.utf8))
            hasher.update(data: Data([0x0A]))
            rows += 1
        }
        return (hasher.finalize().map { String(format: "%02x", $0) }.joined(), rows)
    }
}
