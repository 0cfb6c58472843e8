import Media
import TestSupport
import Testing

@testable import Ingest

/// The bytes of a real ffmpeg publish, recorded by a proxy, through the chunk decoder under many splits.
@Suite(.serialized) struct CapturedPublishTests {
    static func capture() async throws -> [UInt8] {
        let (server, _, _, port) = try await RTMPServerIntegrationTests.makeServer()
        let proxy = RecordingProxy()
        let proxyPort = try await proxy.start(forwardingTo: port)
        let drain = Task {
            var sessions = server.sessions.makeAsyncIterator()
            if let session = await sessions.next() { _ = await collect(session) }
        }
        let result = try await ffmpegPublish(port: proxyPort, key: "good-key", seconds: 2).wait()
        #expect(result.status == 0, "\(result.stderr)")
        await proxy.stop()
        await server.shutdown()
        drain.cancel()
        return proxy.recorded.bytes.withLock { $0 }
    }

    static func decode(_ bytes: ArraySlice<UInt8>, cuts: [Int]) throws -> [RTMPMessage] {
        var decoder = RTMPChunkDecoder()
        var messages: [RTMPMessage] = []
        var start = bytes.startIndex
        for cut in cuts.map({ $0 + bytes.startIndex }) + [bytes.endIndex] where cut >= start {
            decoder.append(Array(bytes[start..<cut]))
            start = cut
            while let message = try decoder.nextMessage() { messages.append(message) }
        }
        return messages
    }

    @Test func aRealPublishParsesTheSameUnderEverySplit() async throws {
        let capture = try await Self.capture()
        let chunks = capture[3073...]  // after C0+C1+C2
        #expect(chunks.count > 100_000)
        let whole = try Self.decode(chunks, cuts: [])
        var session = RTMPSession()
        var commands: [String] = []
        var items: [MediaItem] = []
        for message in whole {
            if message.typeID == 20, let name = try AMF0Decoder.decodeAll(message.payload).first?.string { commands.append(name) }
            for action in session.receive(message) {
                switch action {
                case .authorize: _ = session.publishAccepted()
                case .media(let item): items.append(item)
                default: break
                }
            }
        }
        #expect(Array(commands.prefix(5)) == ["connect", "releaseStream", "FCPublish", "createStream", "publish"])
        #expect(commands.suffix(2) == ["FCUnpublish", "deleteStream"])
        #expect(items.trackInfos.count == 2)
        #expect((59...61).contains(items.packets.filter { $0.track == .video }.count))

        // Every two-way split in the head (commands, metadata, sequence headers, first frames).
        let head = chunks.prefix(6000)
        let headMessages = try Self.decode(head, cuts: [])
        for cut in 0...head.count {
            #expect(try Self.decode(head, cuts: [cut]) == headMessages, "split at \(cut)")
        }
        // Random many-way splits of the whole capture, including one-byte reads.
        var generator = SeededGenerator(state: 1)
        for round in 0..<20 {
            let pieces = round == 0 ? 20_000 : Int.random(in: 2...400, using: &generator)
            let cuts = (0..<pieces).map { _ in Int.random(in: 0...chunks.count, using: &generator) }.sorted()
            #expect(try Self.decode(chunks, cuts: cuts) == whole)
        }
    }
}
