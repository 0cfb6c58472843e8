import Foundation
import Logging
import PostgresNIO

/// `streamd events export`: events A...B, each with its inclusion proof against one signed
/// checkpoint, as JSON lines that `ExportVerifier` checks with no database:
///
///     {"format":"streamd-export/1","from":A,"to":B,"checkpoint":"NOTE"}
///     {"event":{…the row's columns…},"proof":["BASE64",…]}     one per event, in order
///     {"end":COUNT}
public struct LogExport: Sendable {
    public static let format = "streamd-export/1"

    struct Header: Codable {
        let format: String
        let from: Int64
        let to: Int64
        let checkpoint: String
    }

    struct Entry: Codable {
        let event: LogRow
        let proof: [String]
    }

    struct End: Codable {
        let end: Int64
    }

    let store: EventStore

    public init(store: EventStore) { self.store = store }

    /// Writes the export to `file`; `checkpoint` must cover `to`. Returns the events written.
    @discardableResult
    public func write(from: Int64, to: Int64, checkpoint: Checkpoint, file: URL, pageSize: Int = 2_000) async throws -> Int64 {
        guard from >= 1, from <= to, to <= checkpoint.size else {
            throw EventStoreError.database("export needs 1 ≤ FROM ≤ TO ≤ the checkpoint's size \(checkpoint.size) (got \(from)...\(to))")
        }
        guard FileManager.default.createFile(atPath: file.path, contents: nil), let handle = FileHandle(forWritingAtPath: file.path) else {
            throw EventStoreError.database("cannot create \(file.path); check that its folder exists and is writable")
        }
        defer { try? handle.close() }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func line(_ value: some Encodable) throws {
            var data = try encoder.encode(value)
            data.append(0x0A)
            try handle.write(contentsOf: data)
        }
        try line(Header(format: Self.format, from: from, to: to, checkpoint: checkpoint.note))
        let logger = store.logger
        var written: Int64 = 0
        var after = from - 1
        while after < to {
            let start = after
            let entries: [Entry] = try await store.client.withConnection { connection in
                let rows = try await LogRow.read(after: start, through: to, limit: pageSize, on: connection, logger: logger)
                var entries: [Entry] = []
                for row in rows {
                    let proof = try await MerkleTree.hashes(
                        of: Merkle.inclusionRanges(index: row.position - 1, size: checkpoint.size), on: connection, logger: logger)
                    entries.append(Entry(event: row, proof: proof.map { Data($0).base64EncodedString() }))
                }
                return entries
            }
            guard let last = entries.last, entries.first?.event.position == after + 1,
                last.event.position == after + Int64(entries.count)
            else {
                let archived = try await LogArchive(store: store).records().map(\.through).max() ?? 0
                let gap = after + 1 + Int64(entries.enumerated().prefix { $0.element.event.position == after + 1 + Int64($0.offset) }.count)
                if gap <= archived {
                    throw EventStoreError.database(
                        "event #\(gap) was archived (`streamd events archive`); export from after #\(archived), or give auditors the archive file, which `verify-export` checks too"
                    )
                }
                throw EventStoreError.database("the log has no event at position \(gap); run `streamd events verify`")
            }
            for entry in entries { try line(entry) }
            written += Int64(entries.count)
            after = last.event.position
        }
        try line(End(end: written))
        return written
    }
}

/// `streamd verify-export`: checks an export with no database. It trusts only the key: the
/// checkpoint must be signed by it, each event's bytes are hashed here and its proof must lead to
/// the checkpoint's root, the positions must run from FROM to TO without a gap and end with the
/// end record, and no two checkpoints (the export's and any given beside it) may have the same
/// size and different roots.
public enum ExportVerifier {
    public struct Result: Sendable, CustomStringConvertible {
        public let checkpoint: Checkpoint
        public let from: Int64
        public let to: Int64
        /// Set for an archive (`streamd events archive`): the events it holds, not every position between.
        public var archived: Int64? = nil
        public var description: String {
            if let archived {
                return
                    "archive verified: its \(archived) events at or below #\(to) are in the log of size \(checkpoint.size) with root \(checkpoint.rootBase64), signed by \(checkpoint.origin)"
            }
            return
                "export verified: events \(from)...\(to) are in the log of size \(checkpoint.size) with root \(checkpoint.rootBase64), signed by \(checkpoint.origin)"
        }
    }

    public struct Rejection: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Lines longer than this are refused rather than parsed (an event is at most a few MB).
    static let maximumLineBytes = 64 << 20

    public static func verify(file: URL, key: CheckpointVerifierKey, otherCheckpoints: [String] = []) throws(Rejection) -> Result {
        let data: Data
        do {
            data = try Data(contentsOf: file, options: .mappedIfSafe)
        } catch {
            throw Rejection("cannot read \(file.path): \(error.localizedDescription)")
        }
        return try verify(data: data, key: key, otherCheckpoints: otherCheckpoints)
    }

    public static func verify(data: Data, key: CheckpointVerifierKey, otherCheckpoints: [String] = []) throws(Rejection) -> Result {
        let decoder = JSONDecoder()
        var lines = LineReader(data: data)
        guard let headerLine = lines.next() else { throw Rejection("the export is empty") }
        if let archive = try? decoder.decode(LogArchive.Header.self, from: headerLine), archive.format == LogArchive.format {
            return try verifyArchive(header: archive, lines: lines, key: key)
        }
        guard let header = try? decoder.decode(LogExport.Header.self, from: headerLine), header.format == LogExport.format else {
            throw Rejection(
                "not a streamd export or archive (the first line must be its \(LogExport.format) or \(LogArchive.format) header)")
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(note: header.checkpoint, key: key)
        } catch {
            throw Rejection("the export's checkpoint: \(error)")
        }
        guard header.from >= 1, header.from <= header.to, header.to <= checkpoint.size else {
            throw Rejection(
                "the export claims events \(header.from)...\(header.to), which a checkpoint of size \(checkpoint.size) cannot cover")
        }
        var roots: [Int64: (root: Merkle.Hash, source: String)] = [checkpoint.size: (checkpoint.root, "the export")]
        for (i, note) in otherCheckpoints.enumerated() {
            let other: Checkpoint
            do {
                other = try Checkpoint(note: note, key: key)
            } catch {
                throw Rejection("checkpoint \(i + 1) given beside the export: \(error)")
            }
            if let known = roots[other.size], known.root != other.root {
                throw Rejection(
                    "fork: checkpoint \(i + 1) given beside the export and \(known.source) both have size \(other.size) but different roots (\(Data(known.root).base64EncodedString()) and \(other.rootBase64)); the log was rewritten or shows different histories"
                )
            }
            roots[other.size] = (other.root, "checkpoint \(i + 1)")
        }

        var next = header.from
        var ended = false
        while let line = lines.next() {
            guard !ended else { throw Rejection("the export has data after its end record") }
            guard line.count <= maximumLineBytes else { throw Rejection("a line of \(line.count) bytes at position \(next); refused") }
            if let end = try? decoder.decode(LogExport.End.self, from: line) {
                guard end.end == next - header.from else {
                    throw Rejection("the end record counts \(end.end) events but the export holds \(next - header.from)")
                }
                ended = true
                continue
            }
            guard let entry = try? decoder.decode(LogExport.Entry.self, from: line) else {
                throw Rejection("the line for position \(next) is not a valid export entry (truncated or altered)")
            }
            guard entry.event.position == next else {
                throw Rejection("position \(next) is missing: the next entry is position \(entry.event.position)")
            }
            guard next <= header.to else { throw Rejection("the export holds position \(next), past its declared end \(header.to)") }
            try verifyProof(entry.proof, of: entry.event, checkpoint: checkpoint)
            next += 1
        }
        guard ended else {
            throw Rejection(
                "the export is truncated: it ends after position \(next - 1) without its end record (it should run to \(header.to))")
        }
        guard next == header.to + 1 else {
            throw Rejection("the export ends at position \(next - 1) but declares \(header.to)")
        }
        return Result(checkpoint: checkpoint, from: header.from, to: header.to)
    }

    /// An archive: its events need not be consecutive, but each must be proven at its position,
    /// in increasing order, at or below the archive's position, and the end record must count them.
    static func verifyArchive(header: LogArchive.Header, lines: LineReader, key: CheckpointVerifierKey) throws(Rejection) -> Result {
        var lines = lines
        let decoder = JSONDecoder()
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(note: header.checkpoint, key: key)
        } catch {
            throw Rejection("the archive's checkpoint: \(error)")
        }
        guard header.through >= 1, header.through <= checkpoint.size else {
            throw Rejection(
                "the archive claims events at or below #\(header.through), which a checkpoint of size \(checkpoint.size) cannot cover")
        }
        var last: Int64 = 0
        var first: Int64?
        var count: Int64 = 0
        var ended = false
        while let line = lines.next() {
            guard !ended else { throw Rejection("the archive has data after its end record") }
            guard line.count <= maximumLineBytes else { throw Rejection("a line of \(line.count) bytes after #\(last); refused") }
            if let end = try? decoder.decode(LogExport.End.self, from: line) {
                guard end.end == count else { throw Rejection("the end record counts \(end.end) events but the archive holds \(count)") }
                ended = true
                continue
            }
            guard let entry = try? decoder.decode(LogArchive.Entry.self, from: line) else {
                throw Rejection("the line after #\(last) is not a valid archive entry (truncated or altered)")
            }
            let position = entry.event.position
            guard position > last, position <= header.through else {
                throw Rejection("#\(position) after #\(last) in an archive through #\(header.through): out of order or out of range")
            }
            try verifyProof(entry.proof, of: entry.event, checkpoint: checkpoint)
            first = first ?? position
            last = position
            count += 1
        }
        guard ended else { throw Rejection("the archive is truncated: it ends after #\(last) without its end record") }
        return Result(checkpoint: checkpoint, from: first ?? 0, to: header.through, archived: count)
    }

    /// `event`'s inclusion proof (base64 hashes) must lead from its bytes to the checkpoint's root.
    static func verifyProof(_ hashes: [String], of event: LogRow, checkpoint: Checkpoint) throws(Rejection) {
        var proof: [Merkle.Hash] = []
        for hash in hashes {
            guard let bytes = Data(base64Encoded: hash), bytes.count == 32 else {
                throw Rejection("the proof for position \(event.position) holds a hash that is not 32 bytes of base64")
            }
            proof.append(Array(bytes))
        }
        do {
            try MerkleVerifier.verifyInclusion(
                leafHash: event.leafHash, index: event.position - 1, size: checkpoint.size, proof: proof, root: checkpoint.root)
        } catch {
            throw Rejection("position \(event.position): \(error) (the event or its proof was altered)")
        }
    }

    /// Lines of a byte buffer; the last one counts even without its newline (a truncated file).
    struct LineReader {
        let data: Data
        var offset: Data.Index

        init(data: Data) {
            self.data = data
            self.offset = data.startIndex
        }

        mutating func next() -> Data? {
            guard offset < data.endIndex else { return nil }
            let end = data[offset...].firstIndex(of: 0x0A) ?? data.endIndex
            let line = data[offset..<end]
            offset = end < data.endIndex ? end + 1 : end
            return Data(line)
        }
    }
}
