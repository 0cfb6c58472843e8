import Crypto

/// The FP9 handshake digests: HMAC-SHA256 with the well-known Genuine FMS / Flash Player keys.
package enum RTMPHandshakeDigest {
    static let keyTail: [UInt8] = [
        0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
        0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
    ]
    /// "Genuine Adobe Flash Media Server 001" + tail (68 bytes).
    static let fmsKey: [UInt8] = Array("Genuine Adobe Flash Media Server 001".utf8) + keyTail
    /// "Genuine Adobe Flash Player 001" + tail (62 bytes).
    static let playerKey: [UInt8] = Array("Genuine Adobe Flash Player 001".utf8) + keyTail
    static let digestLength = 32
    /// FMS 3.5.1.1, as servers that speak the digest handshake announce.
    static let serverVersion: [UInt8] = [0x03, 0x05, 0x01, 0x01]
    static let clientVersion: [UInt8] = [0x09, 0x00, 0x7C, 0x02]

    static func hmac(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Where the 32-byte digest sits in a 1536-byte C1/S1 for a scheme (0: after time and version, 1: after the key block).
    static func digestOffset(_ packet: [UInt8], scheme: Int) -> Int? {
        let base = scheme == 0 ? 8 : 772
        guard packet.count == RTMPHandshake.packetSize else { return nil }
        let sum = Int(packet[base]) + Int(packet[base + 1]) + Int(packet[base + 2]) + Int(packet[base + 3])
        return sum % 728 + base + 4
    }

    static func digest(of packet: [UInt8], at offset: Int, key: [UInt8]) -> [UInt8] {
        var message = Array(packet[0..<offset])
        message += packet[(offset + digestLength)...]
        return hmac(message, key: key)
    }

    /// The scheme and digest when C1 carries a valid client digest; nil for a plain C1.
    static func validateClientDigest(_ c1: [UInt8]) -> (Int, [UInt8])? {
        for scheme in [0, 1] {
            guard let offset = digestOffset(c1, scheme: scheme) else { return nil }
            let expected = digest(of: c1, at: offset, key: Array(playerKey[0..<30]))
            if Array(c1[offset..<(offset + digestLength)]) == expected { return (scheme, expected) }
        }
        return nil
    }

    static func serverS1(time: UInt32, scheme: Int) -> [UInt8] {
        var s1 = RTMPMessage.bigEndian(time) + serverVersion + randomBytes(RTMPHandshake.packetSize - 8)
        sign(&s1, scheme: scheme, key: Array(fmsKey[0..<36]))
        return s1
    }

    static func serverS2(clientDigest: [UInt8]) -> [UInt8] {
        var s2 = randomBytes(RTMPHandshake.packetSize)
        let key = hmac(clientDigest, key: fmsKey)
        let signature = hmac(Array(s2[0..<(RTMPHandshake.packetSize - digestLength)]), key: key)
        s2.replaceSubrange((RTMPHandshake.packetSize - digestLength)..., with: signature)
        return s2
    }

    /// Writes the digest into a 1536-byte packet at its scheme's offset.
    static func sign(_ packet: inout [UInt8], scheme: Int, key: [UInt8]) {
        guard let offset = digestOffset(packet, scheme: scheme) else { return }
        let value = digest(of: packet, at: offset, key: key)
        packet.replaceSubrange(offset..<(offset + digestLength), with: value)
    }

    /// A client C1 with a digest, as Flash Player 9+ and ffmpeg send it (used by tests and tools).
    package static func clientC1(scheme: Int, time: UInt32 = 0) -> [UInt8] {
        var c1 = RTMPMessage.bigEndian(time) + clientVersion + randomBytes(RTMPHandshake.packetSize - 8)
        sign(&c1, scheme: scheme, key: Array(playerKey[0..<30]))
        return c1
    }

    /// Whether S1 carries a valid server digest for the scheme.
    static func validateServerS1(_ s1: [UInt8], scheme: Int) -> Bool {
        guard let offset = digestOffset(s1, scheme: scheme) else { return false }
        return Array(s1[offset..<(offset + digestLength)]) == digest(of: s1, at: offset, key: Array(fmsKey[0..<36]))
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }
}
