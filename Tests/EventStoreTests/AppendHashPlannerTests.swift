import Foundation
import Testing

@testable import EventStore

/// The group committer's arguments and hash expectation (sans-I/O).
@Suite struct AppendHashPlannerTests {
    typealias Planner = AppendHashPlanner

    static let at: Int64 = 1_700_000_000_123_456
    static let moderator = EventMetadata(actor: EventActor(.moderator, id: "m1"))

    static func event(_ type: String = "T", data: String = #"{"n":1}"#, metadata: EventMetadata = testActor) -> NewEvent {
        NewEvent(eventType: type, schemaVersion: 1, data: data, metadata: metadata)
    }

    static func append(_ stream: String, _ expected: ExpectedVersion, _ events: [NewEvent]) -> Planner.Append {
        Planner.Append(stream: stream, expected: expected, events: events)
    }

    static func encoded(_ metadata: EventMetadata) throws -> String {
        String(decoding: try EventCoding.encoder().encode(metadata), as: UTF8.self)
    }

    static let head = Planner.Head(position: 5, hash: [UInt8](repeating: 7, count: 32))

    /// A planner that knows the head is `head` and stream `a` is at version 3.
    static func knowing() -> Planner {
        var planner = Planner()
        planner.hashing = true
        planner.learn(Planner.Report(head: head, versions: [("a", 3)], tookHashes: false))
        planner.expectFromFacts()
        return planner
    }

    /// The hashes `streamd_append_batch` computes for `rows` (stream, version, event) after `head`.
    static func chain(after head: Planner.Head, _ rows: [(String, Int64, NewEvent)]) throws -> [[UInt8]] {
        var hash = head.hash
        var hashes: [[UInt8]] = []
        for (offset, (stream, version, event)) in rows.enumerated() {
            hash = HashChain.next(
                after: hash,
                canonical: HashChain.canonical(
                    position: head.position + Int64(offset + 1), streamId: stream, streamVersion: version, eventId: event.eventId,
                    eventType: event.eventType, schemaVersion: event.schemaVersion, data: event.data,
                    metadata: try encoded(event.metadata), recordedMicroseconds: at))
            hashes.append(hash)
        }
        return hashes
    }

    @Test func nothingIsHashedUntilHashingIsOnAndTheHeadIsKnown() {
        var off = Planner()
        #expect(!off.awaitsFacts)
        let unhashed = off.prepare([Self.append("a", .noStream, [Self.event()])], recordedMicroseconds: Self.at)
        #expect(unhashed.hashes == nil && unhashed.head == nil)
        #expect(unhashed.sent == [0] && unhashed.assumed == [0])

        var on = Planner()
        on.hashing = true
        #expect(on.awaitsFacts, "no batch has reported yet")
        on.expectFromFacts()
        #expect(on.awaitsFacts, "and there are no facts to expect from")
        let first = on.prepare([Self.append("a", .noStream, [Self.event()])], recordedMicroseconds: Self.at)
        #expect(first.hashes == nil)
    }

    @Test func aBatchIsHashedAsTheDatabaseWouldFromTheExpectedHead() throws {
        var planner = Self.knowing()
        #expect(!planner.awaitsFacts)
        #expect(planner.expectation == Planner.Expectation(valid: true, head: Self.head, versions: ["a": 3]))
        let a1 = Self.event("A1"), a2 = Self.event("A2", metadata: Self.moderator), b1 = Self.event("B1")
        let prepared = planner.prepare(
            [Self.append("a", .any, [a1, a2]), Self.append("b", .noStream, [b1])], recordedMicroseconds: Self.at)

        #expect(prepared.sent == [0, 1])
        #expect(prepared.streams == ["a", "b"])
        #expect(prepared.requestStreams == [1, 2])
        #expect(prepared.expected == [-1, 0])
        #expect(prepared.assumed == [3, 0])
        #expect(prepared.counts == [2, 1])
        #expect(prepared.eventRequests == [1, 1, 2])
        #expect(prepared.ids == [a1.eventId, a2.eventId, b1.eventId])
        #expect(prepared.types == ["A1", "A2", "B1"])
        #expect(prepared.schemas == [1, 1, 1])
        #expect(prepared.data == [a1.data, a2.data, b1.data])
        #expect(prepared.metadata == [try Self.encoded(testActor), try Self.encoded(Self.moderator), try Self.encoded(testActor)])
        #expect(prepared.recordedMicroseconds == Self.at)

        let hashes = try Self.chain(after: Self.head, [("a", 4, a1), ("a", 5, a2), ("b", 1, b1)])
        #expect(prepared.head == Self.head)
        #expect(prepared.hashes == hashes)
        // The batch is expected to commit as sent.
        #expect(
            planner.expectation
                == Planner.Expectation(
                    valid: true, head: Planner.Head(position: 8, hash: try #require(hashes.last)), versions: ["a": 5, "b": 1]))
    }

    @Test func batchesInFlightChainOnTheExpectation() throws {
        var planner = Self.knowing()
        let first = planner.prepare([Self.append("a", .exact(3), [Self.event()])], recordedMicroseconds: Self.at)
        let event = Self.event()
        let second = planner.prepare([Self.append("a", .any, [event])], recordedMicroseconds: Self.at)
        let firstHead = Planner.Head(position: 6, hash: try #require(first.hashes?.last))
        #expect(second.head == firstHead)
        #expect(second.assumed == [4])
        #expect(second.hashes == (try Self.chain(after: firstHead, [("a", 5, event)])))
        // The first commits with its own hashes: the second's guess still holds.
        planner.learn(Planner.Report(head: firstHead, versions: [("a", 4)], tookHashes: true))
        #expect(planner.expectation.valid && planner.expectation.head.position == 7)
        #expect(planner.known == Planner.Expectation(valid: true, head: firstHead, versions: ["a": 4]))
    }

    @Test func anAppendWhoseBaseIsUnknownLeavesTheBatchToTheDatabase() {
        var planner = Self.knowing()
        let prepared = planner.prepare(
            [Self.append("a", .exact(-4), [Self.event()]), Self.append("unseen", .any, [Self.event()])], recordedMicroseconds: Self.at)
        #expect(prepared.expected == [0, -1])
        #expect(prepared.assumed == [0, -1])
        #expect(prepared.hashes == nil && prepared.head == nil)
        #expect(!planner.expectation.valid)
        #expect(planner.awaitsFacts)
    }

    @Test func idsRepeatedWithinABatchAreRefusedAndNotSent() {
        var planner = Self.knowing()
        let shared = Self.event()
        let twice = Self.event()
        let prepared = planner.prepare(
            [
                Self.append("a", .any, [shared]),
                Self.append("b", .noStream, [shared]),
                Self.append("c", .noStream, [twice, twice]),
                Self.append("d", .noStream, [Self.event()]),
            ], recordedMicroseconds: Self.at)
        #expect(prepared.sent == [0, 3])
        #expect(prepared.streams == ["a", "d"])
        #expect(prepared.eventRequests == [1, 2])
        let refusals = prepared.outcomes.map { outcome -> EventStoreError? in
            guard case .failure(let error) = outcome, let error = error as? EventStoreError,
                case .idempotencyConflict = error
            else { return nil }
            return error
        }
        #expect(refusals[0] == nil && refusals[3] == nil)
        #expect(
            refusals[1]
                == .idempotencyConflict(stream: "b", eventId: shared.eventId, detail: "its event ids repeat within appends in flight"))
        #expect(
            refusals[2]
                == .idempotencyConflict(stream: "c", eventId: twice.eventId, detail: "its event ids repeat within appends in flight"))
        #expect(prepared.hashes?.count == 2)

        var allRefused = Self.knowing()
        let none = allRefused.prepare([Self.append("c", .noStream, [twice, twice])], recordedMicroseconds: Self.at)
        #expect(none.sent.isEmpty && none.hashes == nil)
        #expect(!allRefused.expectation.valid)
    }

    @Test func aBatchTheDatabaseHashedOrThatFailedEndsTheExpectation() {
        var planner = Self.knowing()
        _ = planner.prepare([Self.append("a", .any, [Self.event()])], recordedMicroseconds: Self.at)
        planner.learn(nil)
        #expect(!planner.expectation.valid && planner.awaitsFacts)
        #expect(planner.known.head == Self.head, "a failure teaches nothing")

        planner.expectFromFacts()
        #expect(planner.expectation == planner.known)
        let newer = Planner.Head(position: 9, hash: [9])
        planner.learn(Planner.Report(head: newer, versions: [("a", 2), ("b", 4)], tookHashes: false))
        #expect(!planner.expectation.valid)
        #expect(planner.known.head == newer)
        #expect(planner.known.versions == ["a": 3, "b": 4], "versions only move forward")
        // A report from a batch that committed before the newest one seen.
        planner.learn(Planner.Report(head: Self.head, versions: [], tookHashes: true))
        #expect(planner.known.head == newer)

        // Another batch may have expected from the facts while this one waited.
        var waited = Self.knowing()
        _ = waited.prepare([Self.append("a", .any, [Self.event()])], recordedMicroseconds: Self.at)
        let expected = waited.expectation
        waited.expectFromFacts()
        #expect(waited.expectation == expected)
    }

    @Test func streamsPastTheLimitAreForgotten() {
        var planner = AppendHashPlanner(maxStreamsRemembered: 2)
        planner.hashing = true
        planner.learn(Planner.Report(head: Self.head, versions: [("a", 1), ("b", 1)], tookHashes: false))
        #expect(planner.known.versions.count == 2)
        planner.learn(Planner.Report(head: Self.head, versions: [("c", 1)], tookHashes: false))
        #expect(planner.known.versions.isEmpty)
        planner.expectFromFacts()
        let prepared = planner.prepare(
            ["x", "y", "z"].map { Self.append($0, .noStream, [Self.event()]) }, recordedMicroseconds: Self.at)
        #expect(prepared.hashes?.count == 3)
        #expect(planner.expectation.valid && planner.expectation.versions.isEmpty)
        let unknown = planner.prepare([Self.append("x", .any, [Self.event()])], recordedMicroseconds: Self.at)
        #expect(unknown.hashes == nil)
    }

    @Test func aCommitThatTookTheHashesGivesTheRowsAsTheLogHoldsThem() throws {
        var planner = Self.knowing()
        let a1 = Self.event("A1"), b1 = Self.event("B1", data: #"{"é":"ü"}"#)
        let prepared = planner.prepare([Self.append("a", .any, [a1]), Self.append("b", .noStream, [b1])], recordedMicroseconds: Self.at)
        let hashes = try #require(prepared.hashes)
        let committed = Planner.Report(head: Planner.Head(position: 7, hash: hashes[1]), versions: [], tookHashes: true)
        #expect(prepared.recordable(committed) == 2)
        #expect(
            prepared.recordable(Planner.Report(head: Planner.Head(position: 8, hash: hashes[1]), versions: [], tookHashes: true)) == nil)
        #expect(
            prepared.recordable(Planner.Report(head: Planner.Head(position: 7, hash: hashes[0]), versions: [], tookHashes: true)) == nil)

        let rows = prepared.recorded()
        let recordedAt = Date(timeIntervalSince1970: Double(Self.at) / 1_000_000)
        #expect(
            rows == [
                RecordedEvent(
                    position: 6, streamId: "a", streamVersion: 4, eventId: a1.eventId, eventType: "A1", schemaVersion: 1,
                    data: Data(a1.data.utf8), metadata: testActor, recordedAt: rows.first?.recordedAt ?? recordedAt, hash: hashes[0]),
                RecordedEvent(
                    position: 7, streamId: "b", streamVersion: 1, eventId: b1.eventId, eventType: "B1", schemaVersion: 1,
                    data: Data(b1.data.utf8), metadata: testActor, recordedAt: rows.last?.recordedAt ?? recordedAt, hash: hashes[1]),
            ])
        #expect(abs((rows.first?.recordedAt.timeIntervalSince(recordedAt) ?? 1)) < 0.000_001)

        var unknown = Planner()
        let unhashed = unknown.prepare([Self.append("a", .noStream, [a1])], recordedMicroseconds: Self.at)
        #expect(unhashed.recordable(committed) == nil)
        #expect(unhashed.recorded().isEmpty)
    }
}
