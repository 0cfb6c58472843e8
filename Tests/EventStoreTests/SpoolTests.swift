import Foundation
import TestSupport
import Testing

@testable import EventStore

/// The spool's framing, its writer and its reading back, on real files.
@Suite struct SpoolTests {
    static func folder() -> URL {
        URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("streamd-spool-\(UUID().uuidString.prefix(8))")
    }

    static func record(_ n: Int, stream: String = "s-1", expected: ExpectedVersion = .any) throws -> SpooledAppend {
        SpooledAppend(
            stream: stream, expected: expected, onConflict: .record,
            events: [try NewEvent(Counted(writer: "spool", n: n), metadata: testActor)], spooledAt: Date())
    }

    @Test func crcMatchesZlib() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
    }

    @Test func framesReadBackAndDamageEndsThePrefix() throws {
        let payloads = (0..<3).map { Data("record \($0)".utf8) }
        var bytes = Data()
        for payload in payloads { bytes.append(SpoolFrame.encode(payload)) }
        var offset = 0
        var read: [Data] = []
        while case .record(let range, let next) = SpoolFrame.read(bytes, at: offset) {
            read.append(bytes[range])
            offset = next
        }
        #expect(read == payloads)
        #expect(SpoolFrame.read(bytes, at: offset) == .end)

        // A flipped bit in the second payload: the first record stands, the rest is damage.
        var flipped = bytes
        let second = SpoolFrame.headerSize + payloads[0].count
        flipped[second + SpoolFrame.headerSize + 2] ^= 0x01
        guard case .record(_, let next) = SpoolFrame.read(flipped, at: 0) else {
            Issue.record("the first record should read")
            return
        }
        #expect(SpoolFrame.read(flipped, at: next) == .damaged(offset: second, reason: "a checksum mismatch"))

        // A torn write: the last record cut short.
        let torn = bytes.prefix(bytes.count - 3)
        var tornOffset = 0
        var whole = 0
        while case .record(_, let next) = SpoolFrame.read(torn, at: tornOffset) {
            whole += 1
            tornOffset = next
        }
        #expect(whole == 2)
        guard case .damaged(_, let reason) = SpoolFrame.read(torn, at: tornOffset) else {
            Issue.record("a torn record should be damage")
            return
        }
        #expect(reason.contains("cut short"))
        // A length past any record is damage, not an allocation.
        var huge = SpoolFrame.encode(Data("x".utf8))
        huge.replaceSubrange(4..<8, with: [0xFF, 0xFF, 0xFF, 0x7F])
        guard case .damaged(0, let hugeReason) = SpoolFrame.read(huge, at: 0) else {
            Issue.record("an impossible length should be damage")
            return
        }
        #expect(hugeReason.contains("length"))
    }

    @Test func writesAreOnDiskInOrderAndSealedSegmentsReadBack() async throws {
        let directory = Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try EventSpool(configuration: .init(directory: directory), logger: TestDatabase.logger)
        let encoder = EventCoding.encoder()
        #expect(spool.isEmpty)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for n in 0..<50 {
                let payload = try encoder.encode(try Self.record(n))
                group.addTask { try await spool.write(payload) }
            }
            try await group.waitForAll()
        }
        #expect(!spool.isEmpty)
        let sealed = await spool.seal()
        #expect(sealed.count == 1)
        let contents = try SpoolSegmentContents(reading: sealed[0].url)
        #expect(contents.damage == nil)
        #expect(Set(contents.appends.map { $0.events[0].data }).count == 50)
        // Written after the seal: a new segment, and the spool is not empty until it is sealed too.
        try await spool.write(try encoder.encode(try Self.record(50)))
        #expect(!spool.isEmpty)
        spool.retire(sealed[0])
        let next = await spool.seal()
        #expect(next.map(\.index) == [sealed[0].index + 1])
        spool.retire(next[0])
        #expect(spool.isEmpty)
        #expect(spool.bytes == 0)
        spool.close()
        #expect(try EventSpool.segments(in: directory).isEmpty, "replayed segments are deleted")
    }

    @Test func aReopenedSpoolTakesWhatAnEarlierProcessLeft() async throws {
        let directory = Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try EventSpool(configuration: .init(directory: directory), logger: TestDatabase.logger)
        for n in 0..<3 { try await first.write(try EventCoding.encoder().encode(try Self.record(n))) }
        first.close()
        let second = try EventSpool(configuration: .init(directory: directory), logger: TestDatabase.logger)
        defer { second.close() }
        #expect(!second.isEmpty)
        let sealed = await second.seal()
        #expect(sealed.count == 1)
        #expect(try SpoolSegmentContents(reading: sealed[0].url).appends.count == 3)
        try await second.write(try EventCoding.encoder().encode(try Self.record(3)))
        #expect((await second.seal()).map(\.index) == [sealed[0].index, sealed[0].index + 1], "new records go to a new segment")
    }

    @Test func pastItsLimitTheSpoolRefusesAndSaysWhatToDo() async throws {
        let directory = Self.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try EventSpool(configuration: .init(directory: directory, limitBytes: 2_000), logger: TestDatabase.logger)
        defer { spool.close() }
        var written = 0
        var refusal: (any Error)?
        for n in 0..<100 {
            do {
                try await spool.write(try EventCoding.encoder().encode(try Self.record(n)))
                written += 1
            } catch {
                refusal = error
                break
            }
        }
        #expect(written > 0 && written < 100)
        #expect(spool.bytes <= 2_000)
        let message = "\(refusal.map { "\($0)" } ?? "")"
        #expect(message.contains("spool is full") && message.contains("--spool-limit-mb"), "\(message)")
    }

    @Test func aSpooledRecordKeepsEverythingTheAppendNeeds() throws {
        let event = try NewEvent(Counted(writer: "w", n: 7), metadata: EventMetadata(actor: .admin, reason: "why"))
        for expected in [ExpectedVersion.any, .noStream, .exact(41)] {
            let record = SpooledAppend(stream: "s-9", expected: expected, onConflict: .appendAnyway, events: [event], spooledAt: Date())
            let back = try EventCoding.decoder().decode(SpooledAppend.self, from: EventCoding.encoder().encode(record))
            #expect(back.expectedVersion == expected)
            #expect(back.onConflict == .appendAnyway)
            let replayed = back.newEvents[0]
            #expect(replayed.eventId == event.eventId && replayed.data == event.data && replayed.eventType == event.eventType)
            #expect(replayed.metadata.reason == "why")
            #expect(replayed.metadata.spooledAt != nil, "a replayed event carries the node's time of spooling")
        }
    }
}
