import Foundation

/// The group committer's hashing, without the database: builds each batch's arguments for
/// `streamd_append_batch` (migrations/0007) and hashes them from where it expects the log's head
/// and each stream's version to be, then learns from what each committed batch reports.
///
/// The database holds the head's lock the whole time a batch is inserted and committed, so hashing
/// done here is throughput. The expectation is only a guess that the database checks; a wrong one
/// costs the database the hashing, never correctness.
struct AppendHashPlanner: Sendable {
    /// One append as queued.
    struct Append: Sendable {
        var stream: String
        var expected: ExpectedVersion
        var events: [NewEvent]
    }

    struct Head: Sendable, Equatable {
        var position: Int64
        var hash: [UInt8]
    }

    /// One batch as sent: the function's arguments, and which appends were sent at all.
    struct Prepared: Sendable {
        var batch: [Append]
        var outcomes: [Result<AppendResult, any Error>]
        /// Indices into `batch` of the appends sent, in order.
        var sent: [Int] = []
        var streams: [String] = []
        var requestStreams: [Int32] = []
        var expected: [Int64] = []
        var assumed: [Int64] = []
        var counts: [Int32] = []
        var eventRequests: [Int32] = []
        var ids: [UUID] = []
        var types: [String] = []
        var schemas: [Int32] = []
        var data: [String] = []
        var metadata: [String] = []
        var recordedMicroseconds: Int64 = 0
        /// The head the hashes follow; `nil` when the database is to hash the batch.
        var head: Head?
        var hashes: [[UInt8]]?
    }

    /// What a committed batch says about the log: its head afterwards, streams' versions, and
    /// whether the database took the batch's own hashes.
    struct Report: Sendable {
        var head: Head
        var versions: [(String, Int64)]
        var tookHashes: Bool
    }

    /// Where the log will be once every batch in flight commits as sent, while that is still
    /// believed (`valid`).
    struct Expectation: Sendable, Equatable {
        var valid = false
        var head = Head(position: 0, hash: HashChain.genesis)
        var versions: [String: Int64] = [:]
    }

    /// False unless the database's encoding is UTF-8 (where its canonical bytes are Swift's).
    var hashing = false
    private(set) var expectation = Expectation()
    /// Facts from committed batches: the newest head seen, each stream's highest version seen.
    private(set) var known = Expectation()
    /// Past this many streams an expectation forgets them all, and batches touching them go
    /// unhashed until their versions are learned again.
    let maxStreamsRemembered: Int

    init(maxStreamsRemembered: Int = 50_000) {
        self.maxStreamsRemembered = maxStreamsRemembered
    }

    /// Whether the next batch's starting head is unknown: the batches in flight must report first.
    var awaitsFacts: Bool { hashing && !expectation.valid }

    /// Expects again from the facts, once no batch is in flight (unless another batch did first).
    mutating func expectFromFacts() {
        if !expectation.valid { expectation = known }
    }

    /// Builds the function's arguments; hashes them when the head and every stream's version
    /// before each append are expected, and then expects the batch to commit as sent.
    mutating func prepare(_ batch: [Append], recordedMicroseconds: Int64) -> Prepared {
        var prepared = Prepared(
            batch: batch,
            outcomes: .init(
                repeating: .failure(EventStoreError.database("the append batch returned no outcome")), count: batch.count))
        // The function needs ids unique within a batch; an append repeating ids seen earlier in
        // it (its own retry racing it, or a mistake) is refused here.
        var seen = Set<UUID>()
        for (index, request) in batch.enumerated() {
            let ids = request.events.map(\.eventId)
            if ids.contains(where: seen.contains) || Set(ids).count != ids.count {
                prepared.outcomes[index] = .failure(
                    EventStoreError.idempotencyConflict(
                        stream: request.stream, eventId: ids[0], detail: "its event ids repeat within appends in flight"))
            } else {
                seen.formUnion(ids)
                prepared.sent.append(index)
            }
        }
        prepared.recordedMicroseconds = recordedMicroseconds
        var streamIndex: [String: Int32] = [:]
        // Appends in a batch mostly share their metadata (one actor, one request): encode each once.
        var encodedMetadata: [EventMetadata: String] = [:]
        let encoder = EventCoding.encoder()
        // Updated in place (a copy per batch would cost as much as the streams remembered); if the
        // batch turns out unhashable the expectation is dropped and rebuilt from the facts anyway.
        var hashable = hashing && expectation.valid
        for (position, index) in prepared.sent.enumerated() {
            let request = batch[index]
            if streamIndex[request.stream] == nil {
                prepared.streams.append(request.stream)
                streamIndex[request.stream] = Int32(prepared.streams.count)
            }
            prepared.requestStreams.append(streamIndex[request.stream] ?? 1)
            let base: Int64?
            switch request.expected {
            case .any:
                prepared.expected.append(-1)
                base = expectation.versions[request.stream]
            case .noStream:
                prepared.expected.append(0)
                base = 0
            case .exact(let version):
                prepared.expected.append(Swift.max(0, version))
                base = Swift.max(0, version)
            }
            if let base {
                prepared.assumed.append(base)
                expectation.versions[request.stream] = base + Int64(request.events.count)
            } else {
                prepared.assumed.append(-1)
                hashable = false
            }
            prepared.counts.append(Int32(clamping: request.events.count))
            for event in request.events {
                prepared.eventRequests.append(Int32(position + 1))
                prepared.ids.append(event.eventId)
                prepared.types.append(event.eventType)
                prepared.schemas.append(Int32(clamping: event.schemaVersion))
                prepared.data.append(event.data)
                if let encoded = encodedMetadata[event.metadata] {
                    prepared.metadata.append(encoded)
                } else {
                    // EventMetadata always encodes; a failure here would be a bug in its Codable.
                    let encoded = (try? encoder.encode(event.metadata)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
                    encodedMetadata[event.metadata] = encoded
                    prepared.metadata.append(encoded)
                }
            }
        }
        guard hashable, !prepared.sent.isEmpty else {
            // The database hashes this one; what it leaves is known when it reports.
            expectation.valid = false
            return prepared
        }
        var chain = expectation.head.hash
        var position = expectation.head.position
        var hashes: [[UInt8]] = []
        hashes.reserveCapacity(prepared.ids.count)
        var offset = 0
        for (slot, index) in prepared.sent.enumerated() {
            let request = batch[index]
            for (k, event) in request.events.enumerated() {
                position += 1
                chain = HashChain.next(
                    after: chain,
                    canonical: HashChain.canonical(
                        position: position, streamId: request.stream, streamVersion: prepared.assumed[slot] + Int64(k + 1),
                        eventId: event.eventId, eventType: event.eventType, schemaVersion: Int(prepared.schemas[offset + k]),
                        data: event.data, metadata: prepared.metadata[offset + k], recordedMicroseconds: prepared.recordedMicroseconds))
                hashes.append(chain)
            }
            offset += request.events.count
        }
        prepared.head = expectation.head
        prepared.hashes = hashes
        expectation.head = Head(position: position, hash: chain)
        if expectation.versions.count > maxStreamsRemembered { expectation.versions = [:] }
        return prepared
    }

    /// Folds a batch's report (`nil`: it failed) into what is known. A batch the database had to
    /// hash, or that failed, means batches in flight behind it were hashed from a wrong guess.
    mutating func learn(_ report: Report?) {
        if let report {
            if report.head.position >= known.head.position { known.head = report.head }
            for (stream, version) in report.versions where version > known.versions[stream] ?? -1 {
                known.versions[stream] = version
            }
            if known.versions.count > maxStreamsRemembered { known.versions = [:] }
            known.valid = true
        }
        if report?.tookHashes != true { expectation.valid = false }
    }
}

extension AppendHashPlanner.Prepared {
    /// How many rows a batch whose own hashes the database took now holds, if the report agrees
    /// that every append was stored as sent, at consecutive positions after the expected head.
    func recordable(_ report: AppendHashPlanner.Report) -> Int? {
        guard let head, let hashes, !hashes.isEmpty, hashes.count == ids.count,
            report.head.position == head.position + Int64(hashes.count), report.head.hash == hashes.last
        else { return nil }
        return hashes.count
    }

    /// Those rows (see `recordable`), as the log returns them.
    func recorded() -> [RecordedEvent] {
        guard let head, let hashes else { return [] }
        // As PostgresNIO decodes the stored timestamptz, so both paths give the same Date.
        let recordedAt = Date(
            timeInterval: Double(recordedMicroseconds - 946_684_800_000_000) / 1_000_000,
            since: Date(timeIntervalSince1970: 946_684_800))
        var events: [RecordedEvent] = []
        events.reserveCapacity(hashes.count)
        var offset = 0
        for (slot, index) in sent.enumerated() {
            let request = batch[index]
            for (k, event) in request.events.enumerated() {
                events.append(
                    RecordedEvent(
                        position: head.position + Int64(offset + 1), streamId: request.stream,
                        streamVersion: assumed[slot] + Int64(k + 1), eventId: event.eventId, eventType: event.eventType,
                        schemaVersion: Int(schemas[offset]), data: Data(event.data.utf8), metadata: event.metadata,
                        recordedAt: recordedAt, hash: hashes[offset]))
                offset += 1
            }
        }
        return events
    }
}
