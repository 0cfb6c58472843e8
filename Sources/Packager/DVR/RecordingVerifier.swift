import Crypto
import EventStore
import Foundation

/// Proves a session's media is what aired: re-hashes the files its `SegmentPublished` events name
/// (init segments and segments, every rendition) and compares them with the SHA-256 the log
/// recorded (`streamd vod verify`); or finds which logged file a given file is byte-identical to
/// (a clip or an export made from the recording).
public struct RecordingVerifier: Sendable {
    /// A file the log names, with what it recorded about it.
    public struct Expected: Sendable, Hashable {
        public var path: String
        public var bytes: Int
        /// nil for segments logged before hashes were recorded (schema 1): only the size is checked.
        public var sha256: String?
        public var rendition: String
        /// nil for an init segment.
        public var mediaSequence: Int?
        /// The event that recorded it.
        public var position: Int64

        public var label: String {
            "\(rendition) \(mediaSequence.map { "segment \($0)" } ?? "init segment") (\(path), SegmentPublished #\(position))"
        }
    }

    public enum Problem: Sendable, Hashable, CustomStringConvertible {
        case missing(Expected)
        case size(Expected, actual: Int)
        case digest(Expected, actual: String)
        case unreadable(Expected, reason: String)

        public var description: String {
            switch self {
            case .missing(let file): "missing: \(file.label)"
            case .size(let file, let actual): "differs: \(file.label) has \(actual) bytes, the log recorded \(file.bytes)"
            case .digest(let file, let actual):
                "differs: \(file.label) hashes to \(actual), the log recorded \(file.sha256 ?? "?")"
            case .unreadable(let file, let reason): "unreadable: \(file.label): \(reason)"
            }
        }
    }

    public struct Report: Sendable, Hashable {
        /// Files checked before the first problem (all of them when there is none).
        public var verified: Int
        /// Of those, the ones the log has no digest for (size checked only).
        public var sizeOnly: Int
        public var total: Int
        public var problem: Problem?
    }

    public enum VerifierError: Error, CustomStringConvertible {
        case noSegments(sessionID: String)

        public var description: String {
            switch self {
            case .noSegments(let id):
                "the log has no SegmentPublished for session \(id); check the id (streamd events list --stream session-ID)"
            }
        }
    }

    let store: EventStore
    /// The origin store's root (the data folder's `media`).
    let root: URL

    public init(store: EventStore, root: URL) {
        self.store = store
        self.root = root
    }

    /// Every file the session's events name, in log order, each once; `archives`' events (`streamd
    /// events archive`) beside the log's.
    public func expected(sessionID: String, archives: ArchiveRows? = nil) async throws -> [Expected] {
        let filter = EventFilter(streamPrefix: "session-\(sessionID)", types: [SegmentPublished.eventType])
        var files: [Expected] = []
        var seen: Set<String> = []
        var position: Int64 = 0
        var archived: [RecordedEvent] = []
        if var rows = archives {
            while let row = try rows.next() {
                if row.streamId == "session-\(sessionID)", row.eventType == SegmentPublished.eventType {
                    archived.append(try row.recorded())
                }
            }
        }
        var events: [RecordedEvent] = []
        while true {
            let page = try await store.read(after: position, limit: 1_000, filter: filter)
            guard let last = page.last else { break }
            position = last.position
            events += page
        }
        if !archived.isEmpty { events = (events + archived).sorted { $0.position < $1.position } }
        for event in events where event.streamId == "session-\(sessionID)" {
            let published = try store.registry.decode(event, as: SegmentPublished.self)
            for entry in published.renditions {
                if let initialization = entry.initialization, seen.insert(initialization.path).inserted {
                    files.append(
                        Expected(
                            path: initialization.path, bytes: initialization.bytes, sha256: initialization.sha256,
                            rendition: entry.rendition, mediaSequence: nil, position: event.position))
                }
                if seen.insert(entry.path).inserted {
                    files.append(
                        Expected(
                            path: entry.path, bytes: entry.bytes, sha256: entry.sha256, rendition: entry.rendition,
                            mediaSequence: published.mediaSequence, position: event.position))
                }
            }
        }
        guard !files.isEmpty else { throw VerifierError.noSegments(sessionID: sessionID) }
        return files
    }

    /// Re-hashes every file; stops at the first that differs or is missing.
    public func verify(sessionID: String, archives: ArchiveRows? = nil) async throws -> Report {
        let files = try await expected(sessionID: sessionID, archives: archives)
        var report = Report(verified: 0, sizeOnly: 0, total: files.count, problem: nil)
        for file in files {
            if let problem = Self.check(file, at: root.appendingPathComponent(file.path)) {
                report.problem = problem
                return report
            }
            report.verified += 1
            if file.sha256 == nil { report.sizeOnly += 1 }
        }
        return report
    }

    /// The logged files whose bytes `url` has (empty when none: it is not what aired).
    public func matches(
        of url: URL, sessionID: String, archives: ArchiveRows? = nil
    ) async throws -> (digest: String, bytes: Int, matches: [Expected]) {
        let files = try await expected(sessionID: sessionID, archives: archives)
        let (digest, bytes) = try Self.hash(url)
        return (digest, bytes, files.filter { $0.sha256 == digest && $0.bytes == bytes })
    }

    static func check(_ file: Expected, at url: URL) -> Problem? {
        if file.path.hasPrefix("/") || file.path.split(separator: "/").contains("..") {
            return .unreadable(file, reason: "the logged path leaves the media folder")
        }
        guard FileManager.default.fileExists(atPath: url.path) else { return .missing(file) }
        do {
            let (digest, bytes) = try hash(url)
            if bytes != file.bytes { return .size(file, actual: bytes) }
            if let want = file.sha256, want != digest { return .digest(file, actual: digest) }
            return nil
        } catch {
            return .unreadable(file, reason: "\(error)")
        }
    }

    /// SHA-256 (lowercase hex) and size of a file, read in 1 MiB pieces.
    public static func hash(_ url: URL) throws -> (String, Int) {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        var total = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            total += chunk.count
        }
        return (SHA256Hex.string(hasher.finalize()), total)
    }
}
