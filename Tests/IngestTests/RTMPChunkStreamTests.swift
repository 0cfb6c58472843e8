import NIOCore
import TestSupport
import Testing

@testable import Ingest

@Suite struct RTMPChunkStreamTests {
    static func decodeAll(_ bytes: [UInt8], splits: [Int] = []) throws -> [RTMPMessage] {
        var decoder = RTMPChunkDecoder()
        var messages: [RTMPMessage] = []
        var start = 0
        for end in splits + [bytes.count] where end >= start {
            decoder.append(Array(bytes[start..<end]))
            start = end
            while let message = try decoder.nextMessage() { messages.append(message) }
        }
        return messages
    }

    /// A publish-like run of messages covering every header type, extended timestamps and a chunk size change.
    static func sampleMessages() -> [RTMPMessage] {
        var messages: [RTMPMessage] = []
        messages.append(
            RTMPMessage(
                typeID: 20, chunkStreamID: 3,
                payload: AMF0Encoder.encode([.string("connect"), .number(1), .object(["app": .string("live")])])))
        messages.append(.setChunkSize(60))
        var timestamp: UInt32 = 0
        for index in 0..<6 {
            // Same length and delta: type 3 headers; then a size change: type 1; a delta change: type 2.
            let length = index < 3 ? 150 : 150 + index
            timestamp += index == 4 ? 40 : 33
            messages.append(
                RTMPMessage(
                    typeID: 9, timestamp: timestamp, messageStreamID: 1, chunkStreamID: 6,
                    payload: (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ index) }))
            messages.append(
                RTMPMessage(typeID: 8, timestamp: timestamp, messageStreamID: 1, chunkStreamID: 4, payload: [0xAF, 1, UInt8(index)]))
        }
        // Timestamps beyond 24 bits: extended timestamp fields, also on continuation chunks.
        messages.append(
            RTMPMessage(typeID: 9, timestamp: 0x0100_0000, messageStreamID: 1, chunkStreamID: 6, payload: [UInt8](repeating: 9, count: 130))
        )
        messages.append(
            RTMPMessage(typeID: 9, timestamp: 0x0200_0010, messageStreamID: 1, chunkStreamID: 6, payload: [UInt8](repeating: 8, count: 130))
        )
        messages.append(
            RTMPMessage(typeID: 9, timestamp: 0x0300_0020, messageStreamID: 1, chunkStreamID: 6, payload: [UInt8](repeating: 7, count: 130))
        )
        // Chunk stream ids in the two- and three-byte basic header forms.
        messages.append(RTMPMessage(typeID: 18, timestamp: 5, messageStreamID: 1, chunkStreamID: 100, payload: [1, 2, 3]))
        messages.append(RTMPMessage(typeID: 18, timestamp: 5, messageStreamID: 1, chunkStreamID: 400, payload: [4, 5, 6]))
        return messages
    }

    static func encode(_ messages: [RTMPMessage]) -> [UInt8] {
        var encoder = RTMPChunkEncoder()
        var out = ByteBuffer()
        for message in messages { encoder.encode(message, into: &out) }
        return out.readBytes(length: out.readableBytes) ?? []
    }

    @Test func roundTripsEveryChunkTypeAndExtendedTimestamps() throws {
        let messages = Self.sampleMessages()
        let bytes = Self.encode(messages)
        let headerTypes = Set(Self.chunkFormats(bytes))
        let decoded = try Self.decodeAll(bytes)
        #expect(decoded == messages)
        #expect(headerTypes == [0, 1, 2, 3])
    }

    /// Header formats as seen on the wire (only valid for this sample's framing).
    static func chunkFormats(_ bytes: [UInt8]) -> [UInt8] {
        var decoder = RTMPChunkDecoder()
        var formats: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            formats.append(bytes[offset] >> 6)
            let before = decoder.bytesReceived
            // Feed one byte at a time until the decoder consumes a chunk.
            var consumedTo = offset
            while decoder.bytesReceived == before, consumedTo < bytes.count {
                decoder.append([bytes[consumedTo]])
                consumedTo += 1
                _ = try? decoder.nextMessage()
            }
            offset = Int(decoder.bytesReceived)
        }
        return formats
    }

    @Test func everySplitPointParsesTheSame() throws {
        let messages = Self.sampleMessages()
        let bytes = Self.encode(messages)
        for split in 0...bytes.count {
            #expect(try Self.decodeAll(bytes, splits: [split]) == messages, "split at \(split)")
        }
        var generator = SeededGenerator(state: 42)
        for _ in 0..<200 {
            let cuts = (0..<8).map { _ in Int.random(in: 0...bytes.count, using: &generator) }.sorted()
            #expect(try Self.decodeAll(bytes, splits: cuts) == messages)
        }
        // One byte per read.
        #expect(try Self.decodeAll(bytes, splits: Array(0...bytes.count)) == messages)
    }

    /// Reads that arrive while a chunk is incomplete wait whole; only what that chunk needs is
    /// copied. Appending many reads before pulling any message must parse the same.
    @Test func readsQueuedBehindAPartialChunkParseTheSame() throws {
        let messages = Self.sampleMessages()
        let bytes = Self.encode(messages)
        var generator = SeededGenerator(state: 7)
        for round in 0..<100 {
            let cuts = (0..<(round % 12 + 1)).map { _ in Int.random(in: 0...bytes.count, using: &generator) }.sorted()
            var decoder = RTMPChunkDecoder()
            var start = 0
            for end in cuts + [bytes.count] where end >= start {
                decoder.append(Array(bytes[start..<end]))
                start = end
            }
            #expect(decoder.bufferedByteCount == bytes.count)
            var decoded: [RTMPMessage] = []
            while let message = try decoder.nextMessage() { decoded.append(message) }
            #expect(decoded == messages, "cuts \(cuts)")
            #expect(decoder.bufferedByteCount == 0)
            #expect(decoder.bytesReceived == UInt64(bytes.count))
        }
    }

    @Test func typeThreeContinuationWithoutRepeatedExtendedTimestampIsAccepted() throws {
        // fmt 0, csid 6, ts 0xFFFFFF + extended 0x01000000, length 200, type 9, stream 1.
        var bytes: [UInt8] = [0x06, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xC8, 0x09, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]
        bytes += [UInt8](repeating: 1, count: 128)
        bytes += [0xC6] + [UInt8](repeating: 2, count: 72)  // no extended timestamp repeated
        let messages = try Self.decodeAll(bytes)
        #expect(messages.count == 1)
        #expect(messages.first?.timestamp == 0x0100_0000)
        #expect(messages.first?.payload == [UInt8](repeating: 1, count: 128) + [UInt8](repeating: 2, count: 72))

        var repeated = Array(bytes[0..<(16 + 128)]) + [0xC6, 0x01, 0x00, 0x00, 0x00] + [UInt8](repeating: 2, count: 72)
        #expect(try Self.decodeAll(repeated).first?.payload.count == 200)
        repeated.removeLast()
        #expect(try Self.decodeAll(repeated).isEmpty)
    }

    @Test func typeThreeNewMessageAddsTheDelta() throws {
        // fmt 0 ts 1000 len 1; then fmt 2 delta 20; then fmt 3 (delta 20 again).
        let bytes: [UInt8] = [
            0x04, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x01, 0x08, 0x01, 0x00, 0x00, 0x00, 0xAA,
            0x84, 0x00, 0x00, 0x14, 0xBB,
            0xC4, 0xCC,
        ]
        let messages = try Self.decodeAll(bytes)
        #expect(messages.map(\.timestamp) == [1000, 1020, 1040])
        #expect(messages.map(\.payload) == [[0xAA], [0xBB], [0xCC]])
    }

    @Test func setChunkSizeAboveSixteenMebibytesIsRefused() throws {
        var encoder = RTMPChunkEncoder()
        let ok = encoder.encode(.setChunkSize(16 * 1024 * 1024))
        var decoder = RTMPChunkDecoder()
        decoder.append(ok)
        _ = try decoder.nextMessage()
        #expect(decoder.chunkSize == 16 * 1024 * 1024)

        var refused = RTMPChunkDecoder()
        refused.append(RTMPChunkEncoder().encodeOnce(.setChunkSize(16 * 1024 * 1024 + 1)))
        #expect(throws: RTMPProtocolError.self) { try refused.nextMessage() }
        var zero = RTMPChunkDecoder()
        zero.append(RTMPChunkEncoder().encodeOnce(.setChunkSize(0)))
        #expect(throws: RTMPProtocolError.self) { try zero.nextMessage() }
    }

    @Test func abortDropsThePartialMessage() throws {
        var bytes: [UInt8] = [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC8, 0x09, 0x01, 0x00, 0x00, 0x00]
        bytes += [UInt8](repeating: 1, count: 128)
        bytes += RTMPChunkEncoder().encodeOnce(RTMPMessage(typeID: 2, chunkStreamID: 2, payload: [0, 0, 0, 6]))
        // A fresh message on chunk stream 6, complete.
        bytes += [0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x09, 0x01, 0x00, 0x00, 0x00, 0x11, 0x22]
        let messages = try Self.decodeAll(bytes)
        #expect(messages.map(\.typeID) == [2, 9])
        #expect(messages.last?.payload == [0x11, 0x22])
    }

    @Test func oversizedMessagesAndHeaderlessStreamsAreTypedErrors() {
        var decoder = RTMPChunkDecoder(maxMessageSize: 1000)
        decoder.append([0x06, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x09, 0x01, 0x00, 0x00, 0x00])
        #expect(throws: RTMPProtocolError.self) { try decoder.nextMessage() }

        var headerless = RTMPChunkDecoder()
        headerless.append([0x46, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x09, 0xAA])
        #expect(throws: RTMPProtocolError.self) { try headerless.nextMessage() }
    }

    @Test func limitsRaisedOnceAPublishIsAcceptedApplyToTheNextMessage() throws {
        // A 4096-byte video message in one chunk (the peer's chunk size raised first).
        let setChunkSize: [UInt8] = [0x02, 0, 0, 0, 0, 0, 0x04, 0x01, 0, 0, 0, 0, 0, 0, 0x10, 0x00]
        let video: [UInt8] = [0x06, 0, 0, 0, 0x00, 0x10, 0x00, 0x09, 1, 0, 0, 0] + [UInt8](repeating: 0xAB, count: 4096)
        var stranger = RTMPChunkDecoder(maxMessageSize: 1000)
        stranger.append(setChunkSize + video)
        #expect(try stranger.nextMessage()?.typeID == 1)
        #expect(throws: RTMPProtocolError.self) { try stranger.nextMessage() }

        var publisher = RTMPChunkDecoder(maxMessageSize: 1000)
        publisher.append(setChunkSize)
        #expect(try publisher.nextMessage()?.typeID == 1)
        publisher.setLimits(maxMessageSize: 8192)
        #expect(publisher.maxPendingPayloadBytes == 16384)
        publisher.append(video)
        #expect(try publisher.nextMessage()?.payload.count == 4096)
    }

    @Test func unfinishedMessagesCannotHoardMemory() throws {
        var decoder = RTMPChunkDecoder(maxMessageSize: 1000, maxPendingPayloadBytes: 1000)
        // Ten chunk streams each start a 1000-byte message and send its first 128 bytes.
        var failed = false
        for csid in UInt8(3)..<13 {
            decoder.append([csid, 0, 0, 0, 0x00, 0x03, 0xE8, 0x09, 1, 0, 0, 0] + [UInt8](repeating: 0, count: 128))
            do {
                _ = try decoder.nextMessage()
            } catch {
                failed = true
                #expect(error.description.contains("unfinished messages"))
                break
            }
        }
        #expect(failed)
        // Finished messages release what they held.
        var steady = RTMPChunkDecoder(maxMessageSize: 1000, maxPendingPayloadBytes: 1000)
        let message = RTMPMessage(typeID: 9, messageStreamID: 1, chunkStreamID: 6, payload: [UInt8](repeating: 1, count: 900))
        var encoder = RTMPChunkEncoder()
        for _ in 0..<20 {
            steady.append(encoder.encode(message))
            #expect(try steady.nextMessage() != nil)
        }
        #expect(steady.pendingPayloadBytes == 0)
    }

    @Test func encoderChunksLargeMessagesAtItsChunkSize() throws {
        var encoder = RTMPChunkEncoder()
        let message = RTMPMessage(
            typeID: 9, timestamp: 10, messageStreamID: 1, chunkStreamID: 6, payload: [UInt8](repeating: 5, count: 300))
        let bytes = encoder.encode(message)
        // 12-byte header + 128 + (1 + 128) + (1 + 44)
        #expect(bytes.count == 12 + 300 + 2)
        var after = encoder
        _ = after.encode(.setChunkSize(4096))
        #expect(after.chunkSize == 4096)
    }
}

extension RTMPChunkEncoder {
    func encodeOnce(_ message: RTMPMessage) -> [UInt8] {
        var copy = self
        return copy.encode(message)
    }
}
