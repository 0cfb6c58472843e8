import NIOCore
import Testing

@testable import Ingest

@Suite struct RTMPHandshakeTests {
    @Test func plainHandshakeEchoesC1AndKeepsTheFirstChunkBytes() throws {
        var handshake = RTMPHandshake()
        let c1 = [UInt8](repeating: 0, count: 8) + RTMPHandshakeDigest.randomBytes(1528)
        var buffer = ByteBuffer([3] + c1)
        let outputs = try handshake.receive(&buffer)
        guard case .send(let reply) = outputs.first else {
            Issue.record("no S0+S1+S2")
            return
        }
        #expect(reply.count == 1 + 2 * 1536)
        #expect(reply[0] == 3)
        #expect(Array(reply[1537...]) == c1)
        #expect(handshake.variant == .plain)
        #expect(handshake.state == .waitingForC2)

        var rest = ByteBuffer(Array(reply[1..<1537]) + [0x02, 0x00])
        #expect(try handshake.receive(&rest) == [.complete])
        #expect(rest.readableBytes == 2)
    }

    @Test(arguments: [0, 1])
    func digestHandshakeSignsS1AndS2(scheme: Int) throws {
        var handshake = RTMPHandshake()
        let c1 = RTMPHandshakeDigest.clientC1(scheme: scheme)
        var buffer = ByteBuffer([3] + c1)
        let outputs = try handshake.receive(&buffer)
        guard case .send(let reply) = outputs.first else {
            Issue.record("no reply")
            return
        }
        #expect(handshake.variant == .digest(scheme: scheme))
        let s1 = Array(reply[1..<1537])
        let s2 = Array(reply[1537...])
        #expect(RTMPHandshakeDigest.validateServerS1(s1, scheme: scheme))
        // The client checks S2 with a key derived from its own C1 digest.
        guard let (_, clientDigest) = RTMPHandshakeDigest.validateClientDigest(c1) else {
            Issue.record("C1 digest did not validate")
            return
        }
        let key = RTMPHandshakeDigest.hmac(clientDigest, key: RTMPHandshakeDigest.fmsKey)
        #expect(Array(s2[1504...]) == RTMPHandshakeDigest.hmac(Array(s2[0..<1504]), key: key))
    }

    @Test func aBrokenDigestFallsBackToPlain() throws {
        var c1 = RTMPHandshakeDigest.clientC1(scheme: 0)
        c1[100] ^= 0xFF
        c1[900] ^= 0xFF
        var handshake = RTMPHandshake()
        var buffer = ByteBuffer([3] + c1)
        _ = try handshake.receive(&buffer)
        #expect(handshake.variant == .plain)
    }

    @Test func handshakeBytesSplitAnywhereGiveTheSameResult() throws {
        let c1 = RTMPHandshakeDigest.clientC1(scheme: 1)
        let c2 = RTMPHandshakeDigest.randomBytes(1536)
        let stream = [3] + c1 + c2 + [0xAA]
        for split in [1, 2, 17, 1536, 1537, 1538, 3072, 3073] {
            var handshake = RTMPHandshake()
            var buffer = ByteBuffer(Array(stream[0..<split]))
            var outputs = try handshake.receive(&buffer)
            buffer.writeBytes(stream[split...])
            outputs += try handshake.receive(&buffer)
            #expect(outputs.count == 2, "split at \(split)")
            #expect(outputs.last == .complete)
            #expect(buffer.readableBytes == 1)
        }
    }

    @Test func otherVersionsAreRefusedWithAReason() {
        var handshake = RTMPHandshake()
        var buffer = ByteBuffer([6] + [UInt8](repeating: 0, count: 1536))
        #expect(throws: RTMPProtocolError.self) { try handshake.receive(&buffer) }
        do {
            var fresh = RTMPHandshake()
            var bytes = ByteBuffer([0x47, 0x45, 0x54])  // "GET"
            _ = try fresh.receive(&bytes)
            Issue.record("HTTP bytes were accepted")
        } catch {
            #expect(error.stage == .handshake)
            #expect(error.description.contains("version 71"))
        }
    }
}
