import NIOCore

/// Sans-I/O server side of the RTMP handshake (RTMP 1.0 §5.2), plain and digest (FP9-style).
///
/// Feed it the peer's bytes; it answers S0+S1+S2 once C0+C1 are in and completes when C2 is in.
/// Bytes after C2 stay in the caller's buffer: they are the first chunks.
public struct RTMPHandshake: Sendable {
    public static let packetSize = 1536

    public enum Variant: Sendable, Hashable {
        case plain
        /// C1 carried a valid HMAC-SHA256 digest at the offset given by `scheme` (0 or 1).
        case digest(scheme: Int)
    }

    public enum State: Sendable, Hashable {
        case waitingForC0C1
        case waitingForC2
        case complete
    }

    public enum Output: Sendable, Hashable {
        case send([UInt8])
        case complete
    }

    public private(set) var state = State.waitingForC0C1
    public private(set) var variant: Variant?
    private let serverTime: UInt32

    public init(serverTime: UInt32 = 0) {
        self.serverTime = serverTime
    }

    public mutating func receive(_ buffer: inout ByteBuffer) throws(RTMPProtocolError) -> [Output] {
        var outputs: [Output] = []
        if state == .waitingForC0C1 {
            guard let version = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return outputs }
            guard version == 3 else {
                let hint = version == 6 ? "RTMPE (encrypted RTMP) is not supported" : "expected 3"
                throw RTMPProtocolError(.handshake, "C0 asks for RTMP version \(version); \(hint). Publish with plain rtmp://")
            }
            guard buffer.readableBytes >= 1 + Self.packetSize,
                let c1 = buffer.getBytes(at: buffer.readerIndex + 1, length: Self.packetSize)
            else { return outputs }
            buffer.moveReaderIndex(forwardBy: 1 + Self.packetSize)
            outputs.append(.send(respond(to: c1)))
            state = .waitingForC2
        }
        if state == .waitingForC2 {
            guard buffer.readableBytes >= Self.packetSize else { return outputs }
            // C2 echoes S1 (plain) or carries a digest of it; clients differ, so it is not checked.
            buffer.moveReaderIndex(forwardBy: Self.packetSize)
            state = .complete
            outputs.append(.complete)
        }
        return outputs
    }

    private mutating func respond(to c1: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [3]
        out.reserveCapacity(1 + 2 * Self.packetSize)
        if let (scheme, clientDigest) = RTMPHandshakeDigest.validateClientDigest(c1) {
            variant = .digest(scheme: scheme)
            out += RTMPHandshakeDigest.serverS1(time: serverTime, scheme: scheme)
            out += RTMPHandshakeDigest.serverS2(clientDigest: clientDigest)
        } else {
            variant = .plain
            var s1 = RTMPMessage.bigEndian(serverTime) + [0, 0, 0, 0]
            s1 += RTMPHandshakeDigest.randomBytes(Self.packetSize - 8)
            out += s1
            out += c1
        }
        return out
    }
}
