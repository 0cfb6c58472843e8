import Crypto
import Foundation
import Logging
import PostgresNIO

/// `streamd events archive`: moves old, bulky history out of PostgreSQL into a file that proves
/// itself. The events of the given types at or below a position, except each stream's last (it
/// carries the stream's version for appends), are written with their inclusion proofs against a
/// signed checkpoint and their hash-chain values, then deleted in the same transaction that
/// records the archive and the chain anchors the remaining rows need. The Merkle tree and
/// checkpoints stay: proofs, `events verify --checkpoint … --archive FILE` and `verify-export
/// FILE` cover the archived positions.
///
///     {"checkpoint":"NOTE","format":"streamd-archive/1","through":N,"types":[…]}
///     {"chain":"BASE64","event":{…},"proof":["BASE64",…]}     one per archived event, in order
///     {"end":COUNT}
public struct LogArchive: Sendable {
    public static let format = "streamd-archive/1"

    struct Header: Codable {
        let format: String
        let through: Int64
        let types: [String]
        let checkpoint: String
    }

    struct Entry: Codable {
        let event: LogRow
        let proof: [String]
        let chain: String
    }

    public struct Result: Sendable, CustomStringConvertible {
        public let through: Int64
        public let count: Int64
        public let file: URL
        public let sha256: [UInt8]
        public var description: String {
            guard count > 0 else { return "nothing to archive at or below #\(through): no file written" }
            return
                "archived \(count) events at or below #\(through) into \(file.path) (SHA-256 \(sha256.map { String(format: "%02x", $0) }.joined()))"
        }
    }

    /// Archives already written, oldest first.
    public struct Record: Sendable, Equatable {
        public let through: Int64
        public let file: String
        public let count: Int64
        public let archivedAt: Date
    }

    let store: EventStore

    public init(store: EventStore) { self.store = store }

    public func records() async throws -> [Record] {
        try await store.client.withConnection { try await Self.records(on: $0, logger: store.logger) }
    }

    static func records(on connection: PostgresConnection, logger: Logger) async throws -> [Record] {
        let rows = try await connection.query(
            "SELECT through_position, file_name, event_count, archived_at FROM event_archives ORDER BY id", logger: logger)
        var records: [Record] = []
        for try await (through, file, count, at) in rows.decode((Int64, String, Int64, Date).self) {
            records.append(Record(through: through, file: file, count: count, archivedAt: at))
        }
        return records
    }

    /// Writes `file` and removes its events from the log. Refused while a read model has not
    /// read up to `through` (it would never see them) or when `checkpoint` does not cover it.
    public func archive(through: Int64, types: [String], checkpoint: Checkpoint, file: URL) async throws -> Result {
        guard through >= 1, through <= checkpoint.size else {
            throw EventStoreError.database("archive needs 1 ≤ THROUGH ≤ the checkpoint's size \(checkpoint.size) (got \(through))")
        }
        guard !types.isEmpty else { throw EventStoreError.database("name at least one event type to archive") }
        guard !FileManager.default.fileExists(atPath: file.path) else {
            throw EventStoreError.database("\(file.path) exists; archives are never overwritten: choose a new file")
        }
        let logger = store.logger
        return try await store.withOwnerConnection { connection in
            _ = try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ", logger: logger)
            do {
                let result = try await archive(on: connection, through: through, types: types, checkpoint: checkpoint, file: file)
                _ = try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                try? FileManager.default.removeItem(at: file)
                if let error = error as? PSQLError, error.serverInfo?[.sqlState] == "42501" {
                    throw EventStoreError.database(
                        "archiving deletes events, which only the schema's owner may: give its URL as --database-owner-url (the embedded cluster uses its own owner) (\(error.serverInfo?[.message] ?? ""))"
                    )
                }
                throw error
            }
        }
    }

    private func archive(
        on connection: PostgresConnection, through: Int64, types: [String], checkpoint: Checkpoint, file: URL
    ) async throws -> Result {
        let logger = store.logger
        let behind = try await connection.query(
            "SELECT name, position FROM projection_checkpoints WHERE position < \(through) ORDER BY position", logger: logger)
        for try await (name, position) in behind.decode((String, Int64).self) {
            throw EventStoreError.database(
                "the read model \(name) has read the log up to #\(position) only; archive through at most #\(position), or let it catch up first"
            )
        }
        let treeSize = try await MerkleTree.size(on: connection, logger: logger)
        guard treeSize >= checkpoint.size else {
            throw EventStoreError.database("the Merkle tree has \(treeSize) events, fewer than the checkpoint's \(checkpoint.size)")
        }
        let candidates = try await connection.query(
            """
            SELECT e.position FROM events e
            WHERE e.position <= \(through) AND e.event_type = ANY(\(types))
              AND EXISTS (SELECT 1 FROM events l WHERE l.stream_id = e.stream_id AND l.stream_version > e.stream_version)
            ORDER BY e.position
            """, logger: logger)
        var positions: [Int64] = []
        for try await position in candidates.decode(Int64.self) { positions.append(position) }
        guard !positions.isEmpty else { return Result(through: through, count: 0, file: file, sha256: []) }

        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = FileHandle(forWritingAtPath: file.path) else {
            throw EventStoreError.database("cannot create \(file.path); check that its folder exists and is writable")
        }
        defer { try? handle.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var digest = SHA256()
        func line(_ value: some Encodable) throws {
            var data = try encoder.encode(value)
            data.append(0x0A)
            digest.update(data: data)
            try handle.write(contentsOf: data)
        }
        try line(Header(format: Self.format, through: through, types: types.sorted(), checkpoint: checkpoint.note))
        var anchors: [(position: Int64, previous: [UInt8])] = []
        let archived = Set(positions)
        for start in stride(from: 0, to: positions.count, by: 2_000) {
            let page = Array(positions[start..<min(start + 2_000, positions.count)])
            let rows = try await LogRow.read(positions: page, on: connection, logger: logger)
            guard rows.count == page.count else { throw EventStoreError.database("the log changed while it was archived; run it again") }
            for row in rows {
                guard let chain = row.chainHash else { throw EventStoreError.database("event #\(row.position) has no stored hash") }
                let proof = try await MerkleTree.hashes(
                    of: Merkle.inclusionRanges(index: row.position - 1, size: checkpoint.size), on: connection, logger: logger)
                try line(Entry(event: row, proof: proof.map { Data($0).base64EncodedString() }, chain: Data(chain).base64EncodedString()))
                if !archived.contains(row.position + 1) { anchors.append((row.position + 1, chain)) }
            }
        }
        try line(LogExport.End(end: Int64(positions.count)))
        try handle.synchronize()
        let sha256 = Array(digest.finalize())

        try await connection.query("SET LOCAL streamd.archive = 'on'", logger: logger)
        try await connection.query(
            """
            INSERT INTO event_archives (through_position, file_name, file_sha256, event_count, checkpoint_size)
            VALUES (\(through), \(file.lastPathComponent), \(ByteBuffer(bytes: sha256)), \(Int64(positions.count)), \(checkpoint.size))
            """, logger: logger)
        if !anchors.isEmpty {
            try await connection.query(
                """
                INSERT INTO event_chain_anchors (position, previous_hash)
                SELECT * FROM unnest(\(anchors.map(\.position))::bigint[], \(anchors.map { ByteBuffer(bytes: $0.previous) })::bytea[])
                ON CONFLICT (position) DO NOTHING
                """, logger: logger)
        }
        for start in stride(from: 0, to: positions.count, by: 10_000) {
            let page = Array(positions[start..<min(start + 10_000, positions.count)])
            try await connection.query("DELETE FROM events WHERE position = ANY(\(page))", logger: logger)
        }
        return Result(through: through, count: Int64(positions.count), file: file, sha256: sha256)
    }
}

/// The events of archive files, in position order, for the verifiers.
public struct ArchiveRows: Sendable {
    public struct Problem: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    private var files: [(url: URL, data: Data, through: Int64)]
    private var lines: ExportVerifier.LineReader?
    private var current = ""
    private var last: Int64 = 0

    public init(files urls: [URL]) throws(Problem) {
        var files: [(URL, Data, Int64)] = []
        for url in urls {
            let data: Data
            do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
                throw Problem("cannot read the archive \(url.path): \(error.localizedDescription)")
            }
            var reader = ExportVerifier.LineReader(data: data)
            guard let first = reader.next(), let header = try? JSONDecoder().decode(LogArchive.Header.self, from: first),
                header.format == LogArchive.format
            else {
                throw Problem("\(url.path) is not a streamd archive (its first line must be the \(LogArchive.format) header)")
            }
            files.append((url, data, header.through))
        }
        self.files = files.sorted { $0.2 < $1.2 }
    }

    /// The next archived event, or nil after the last file's end record.
    public mutating func next() throws(Problem) -> LogRow? {
        let decoder = JSONDecoder()
        while true {
            if lines == nil {
                guard !files.isEmpty else { return nil }
                let file = files.removeFirst()
                current = file.url.path
                var reader = ExportVerifier.LineReader(data: file.data)
                _ = reader.next()
                lines = reader
            }
            guard let line = lines?.next() else {
                throw Problem("the archive \(current) is truncated: it has no end record")
            }
            if (try? decoder.decode(LogExport.End.self, from: line)) != nil {
                lines = nil
                continue
            }
            guard let entry = try? decoder.decode(LogArchive.Entry.self, from: line) else {
                throw Problem("the archive \(current) has a line after #\(last) that is not an archived event (truncated or altered)")
            }
            guard entry.event.position > last else {
                throw Problem("the archive \(current) holds #\(entry.event.position) after #\(last): out of order, or archives overlap")
            }
            var row = entry.event
            row.chainHash = Data(base64Encoded: entry.chain).map { Array($0) }
            last = row.position
            return row
        }
    }
}

extension EventStore {
    /// Runs `body` on a connection of the schema's owner (`Options.ownerURL`, else this store's
    /// role): for the one command that removes rows, which the application's role may not.
    public func withOwnerConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let owner = options.ownerURL ?? url
        let connection = try await PostgresConnection.connect(
            on: options.eventLoopGroup.next(), configuration: try owner.connectionConfiguration(), id: 2, logger: logger)
        do {
            let result = try await body(connection)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }
}
