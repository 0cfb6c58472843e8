import Foundation
import Logging

/// The durable local spool (DESIGN.md §4, docs/architecture.md#the-spool): appends that could not
/// reach the database, kept in the data folder until the log takes them back.
///
/// Records go to numbered segment files (`00000001.spool`, …) in one folder, each framed and
/// checksummed (`SpoolFrame`). A single writer thread takes whatever is queued, writes it and
/// calls `fdatasync` once for the lot (group commit), then answers every waiter: an append the
/// spool acknowledged survives a crash of the process or the machine. `seal()` closes the segment
/// being written, so replay reads only files nobody writes to; a replayed segment is deleted.
///
/// The total size is bounded: past `limitBytes` an append is refused with `SpoolError.full`.
public final class EventSpool: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var directory: URL
        public var limitBytes: Int
        /// A segment is sealed once it holds this much, so replay reads bounded files.
        public var segmentBytes: Int

        public init(directory: URL, limitBytes: Int = 256 << 20, segmentBytes: Int = 8 << 20) {
            self.directory = directory
            self.limitBytes = limitBytes
            self.segmentBytes = segmentBytes
        }
    }

    public struct Segment: Sendable, Hashable, Comparable {
        public var index: Int
        public var url: URL
        public static func < (lhs: Segment, rhs: Segment) -> Bool { lhs.index < rhs.index }
    }

    private enum Item {
        case record(Data, @Sendable (Result<Void, any Error>) -> Void)
        case seal(@Sendable ([Segment]) -> Void)
    }

    public let configuration: Configuration
    private let logger: Logger
    /// Guards everything below; the writer thread waits on it.
    private let condition = NSCondition()
    private var queue: [Item] = []
    private var sealed: [Segment]
    private var currentIndex: Int
    private var currentBytes = 0
    /// Bytes on disk and queued, sealed segments included.
    private var totalBytes: Int
    /// Records queued or written to the open segment, not yet sealed.
    private var unsealedRecords = 0
    /// Records written to the open segment.
    private var recordsInCurrent = 0
    private var stopped = false
    private var thread: Thread?
    /// Signalled when the writer thread has written everything and stopped.
    private let finished = DispatchSemaphore(value: 0)
    /// Only the writer thread touches it.
    private var descriptor: Int32 = -1

    /// Opens the folder (creating it), taking every segment a previous process left as sealed.
    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let manager = FileManager.default
        do {
            try manager.createDirectory(
                at: configuration.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw SpoolError.io("cannot create the spool folder \(configuration.directory.path) (\(error)); make the data folder writable")
        }
        let segments = try Self.segments(in: configuration.directory)
        sealed = segments
        currentIndex = (segments.last?.index ?? 0) + 1
        totalBytes = segments.reduce(0) { $0 + ((try? manager.attributesOfItem(atPath: $1.url.path)[.size] as? Int) ?? 0) }
        let thread = Thread { self.writeLoop() }
        thread.name = "streamd-spool"
        self.thread = thread
        thread.start()
    }

    deinit {
        if descriptor >= 0 { Glibc.close(descriptor) }
    }

    /// Segments in `directory`, oldest first.
    static func segments(in directory: URL) throws -> [Segment] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw SpoolError.io("cannot list the spool folder \(directory.path) (\(error))")
        }
        return names.compactMap { name -> Segment? in
            guard name.hasSuffix(".spool"), let index = Int(name.dropLast(6)) else { return nil }
            return Segment(index: index, url: directory.appendingPathComponent(name))
        }.sorted()
    }

    /// Whether anything is spooled: sealed segments, or records in the open one.
    public var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return sealed.isEmpty && unsealedRecords == 0
    }

    /// Bytes spooled and not yet replayed.
    public var bytes: Int {
        condition.lock()
        defer { condition.unlock() }
        return totalBytes
    }

    /// Queues one record; `completion` runs on the writer thread once it is on disk (or failed).
    /// Synchronous, so a caller on an actor queues in its own order.
    func enqueue(_ payload: Data, completion: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        let frame = SpoolFrame.encode(payload)
        condition.lock()
        guard !stopped else {
            condition.unlock()
            completion(.failure(SpoolError.io("the spool is closed")))
            return
        }
        guard totalBytes + frame.count <= configuration.limitBytes else {
            let total = totalBytes
            condition.unlock()
            completion(.failure(SpoolError.full(bytes: total, limit: configuration.limitBytes)))
            return
        }
        totalBytes += frame.count
        unsealedRecords += 1
        queue.append(.record(frame, completion))
        condition.signal()
        condition.unlock()
    }

    /// Writes `payload` and returns once it is on disk.
    func write(_ payload: Data) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enqueue(payload) { continuation.resume(with: $0) }
        }
    }

    /// Closes the open segment after everything queued before it, and answers every sealed
    /// segment not yet replayed, oldest first. Synchronous queueing, like `enqueue`.
    func seal(completion: @escaping @Sendable ([Segment]) -> Void) {
        condition.lock()
        queue.append(.seal(completion))
        condition.signal()
        condition.unlock()
    }

    func seal() async -> [Segment] {
        await withCheckedContinuation { continuation in seal { continuation.resume(returning: $0) } }
    }

    /// A segment was replayed (or set aside as damaged): it no longer counts.
    func retire(_ segment: Segment, keepAs suffix: String? = nil) {
        let size = (try? FileManager.default.attributesOfItem(atPath: segment.url.path)[.size] as? Int) ?? 0
        if let suffix {
            let target = segment.url.deletingPathExtension().appendingPathExtension("spool.\(suffix)")
            try? FileManager.default.moveItem(at: segment.url, to: target)
        } else {
            try? FileManager.default.removeItem(at: segment.url)
        }
        condition.lock()
        sealed.removeAll { $0 == segment }
        totalBytes = max(0, totalBytes - size)
        condition.unlock()
    }

    /// Writes what is queued, stops the writer, and returns once it has (or after `limit`, if the
    /// disk hangs); later appends fail.
    public func close(waitingAtMost limit: Duration = .seconds(5)) {
        condition.lock()
        let first = !stopped
        stopped = true
        condition.signal()
        condition.unlock()
        let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
        if first, finished.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .timedOut {
            logger.error("the spool's writer did not finish within \(limit); the disk may be stalled")
        }
    }

    // MARK: The writer thread

    private func writeLoop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                condition.unlock()
                if descriptor >= 0 {
                    Glibc.close(descriptor)
                    descriptor = -1
                }
                finished.signal()
                return
            }
            let items = queue
            queue.removeAll(keepingCapacity: true)
            condition.unlock()
            writeBatch(items)
        }
    }

    private func writeBatch(_ items: [Item]) {
        var written: [@Sendable (Result<Void, any Error>) -> Void] = []
        func flush() {
            guard !written.isEmpty else { return }
            var result = Result<Void, any Error>.success(())
            if descriptor >= 0, fdatasync(descriptor) != 0 {
                result = .failure(SpoolError.io("fdatasync of the spool failed: \(String(cString: strerror(errno)))"))
            }
            for completion in written { completion(result) }
            written.removeAll()
        }
        for item in items {
            switch item {
            case .record(let frame, let completion):
                let failure = append(frame)
                condition.lock()
                if failure != nil {
                    totalBytes -= frame.count
                    unsealedRecords -= 1
                } else {
                    recordsInCurrent += 1
                }
                condition.unlock()
                if let failure {
                    flush()
                    completion(.failure(failure))
                } else {
                    written.append(completion)
                }
            case .seal(let completion):
                flush()
                sealOpenSegment()
                condition.lock()
                let segments = sealed
                condition.unlock()
                completion(segments)
            }
        }
        flush()
        if currentBytes >= configuration.segmentBytes { sealOpenSegment() }
    }

    /// Appends one frame to the open segment, opening it first when needed; nil when it worked.
    private func append(_ frame: Data) -> (any Error)? {
        if descriptor < 0 {
            let url = segmentURL(currentIndex)
            descriptor = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                return SpoolError.io("cannot open \(url.path): \(String(cString: strerror(errno)))")
            }
            syncDirectory()
        }
        let failed = frame.withUnsafeBytes { buffer -> Int32? in
            var offset = 0
            while offset < buffer.count {
                let count = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += count
            }
            return nil
        }
        if let failed {
            // A partial frame would end the readable prefix; cut it off.
            _ = ftruncate(descriptor, off_t(currentBytes))
            return SpoolError.io("cannot write the spool: \(String(cString: strerror(failed))); free space in the data folder")
        }
        currentBytes += frame.count
        return nil
    }

    private func sealOpenSegment() {
        condition.lock()
        defer { condition.unlock() }
        guard descriptor >= 0 else { return }
        Glibc.close(descriptor)
        descriptor = -1
        if currentBytes > 0 { sealed.append(Segment(index: currentIndex, url: segmentURL(currentIndex))) }
        currentIndex += 1
        currentBytes = 0
        unsealedRecords -= recordsInCurrent
        recordsInCurrent = 0
    }

    private func segmentURL(_ index: Int) -> URL {
        configuration.directory.appendingPathComponent(String(format: "%08d.spool", index))
    }

    /// A new segment's name survives a crash only once its folder is synced.
    private func syncDirectory() {
        let folder = open(configuration.directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folder >= 0 else { return }
        _ = fsync(folder)
        Glibc.close(folder)
    }
}

/// The records of one segment file: the intact prefix, and where and why it stops if it is damaged.
struct SpoolSegmentContents {
    var appends: [SpooledAppend]
    var damage: (offset: Int, bytes: Int, reason: String)?

    init(reading url: URL) throws {
        let bytes: Data
        do {
            bytes = try Data(contentsOf: url)
        } catch {
            throw SpoolError.io("cannot read \(url.path) (\(error))")
        }
        var appends: [SpooledAppend] = []
        var offset = 0
        let decoder = EventCoding.decoder()
        loop: while true {
            switch SpoolFrame.read(bytes, at: offset) {
            case .end:
                break loop
            case .damaged(let at, let reason):
                damage = (at, bytes.count - at, reason)
                break loop
            case .record(let payload, let next):
                do {
                    appends.append(try decoder.decode(SpooledAppend.self, from: bytes[payload]))
                } catch {
                    damage = (offset, bytes.count - offset, "a record that does not decode (\(error))")
                    break loop
                }
                offset = next
            }
        }
        self.appends = appends
    }
}

public enum SpoolError: Error, Sendable, CustomStringConvertible {
    case full(bytes: Int, limit: Int)
    case io(String)

    public var description: String {
        switch self {
        case .full(let bytes, let limit):
            "the local spool is full (\(bytes) of \(limit) bytes) while the database is away: this event is lost; bring PostgreSQL back or raise --spool-limit-mb"
        case .io(let reason):
            reason
        }
    }
}
