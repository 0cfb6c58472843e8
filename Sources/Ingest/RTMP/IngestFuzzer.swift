import NIOCore

/// Fuzz drivers shared by the test suite and the `IngestFuzz` tool: each feeds one input to a
/// parser and returns normally whether the input was accepted or refused with a typed error.
public enum IngestFuzzer {
    /// Flips, inserts, deletes or overwrites a few bytes of a valid input.
    public static func mutate(_ bytes: [UInt8], using generator: inout some RandomNumberGenerator) -> [UInt8] {
        var out = bytes
        for _ in 0..<Int.random(in: 1...6, using: &generator) {
            let position = out.isEmpty ? 0 : Int.random(in: 0..<out.count, using: &generator)
            switch Int.random(in: 0..<6, using: &generator) {
            case 0 where !out.isEmpty: out[position] ^= UInt8(1) << UInt8.random(in: 0...7, using: &generator)
            case 1 where !out.isEmpty: out[position] = [0x00, 0xFF, 0x7F, 0x80, 0x03, 0xC3][Int.random(in: 0..<6, using: &generator)]
            case 2: out.insert(UInt8.random(in: 0...255, using: &generator), at: position)
            case 3 where !out.isEmpty: out.remove(at: position)
            case 4: out = Array(out[0..<position])
            default:
                if !out.isEmpty { out[position] = UInt8.random(in: 0...255, using: &generator) }
            }
        }
        return out
    }

    /// Decodes a chunk stream split at a pseudo-random point and runs every message through a session.
    public static func chunkStream(_ bytes: [UInt8], splitSeed: UInt64) {
        var decoder = RTMPChunkDecoder(maxMessageSize: 1 << 20, maxChunkStreams: 16)
        var session = RTMPSession()
        let split = bytes.isEmpty ? 0 : Int(splitSeed % UInt64(bytes.count))
        for part in [bytes[0..<split], bytes[split...]] {
            decoder.append(Array(part))
            while true {
                do {
                    guard let message = try decoder.nextMessage() else { break }
                    for action in session.receive(message) {
                        if case .authorize = action { _ = session.publishAccepted() }
                    }
                } catch {
                    return
                }
            }
        }
    }

    public static func handshake(_ bytes: [UInt8]) {
        var handshake = RTMPHandshake()
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        _ = try? handshake.receive(&buffer)
    }

    public static func amf(_ bytes: [UInt8]) {
        _ = try? AMF0Decoder.decodeAll(bytes)
    }

    public static func flv(_ bytes: [UInt8]) {
        _ = try? FLVMediaPayload.parseVideo(bytes)
        _ = try? FLVMediaPayload.parseAudio(bytes)
        if bytes.count > 5 { _ = try? H264SequenceParameterSet(parsing: Array(bytes[5...])) }
    }
}
