import Ingest
import Media
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

extension IngestFuzzer {
    static let sps: [UInt8] = [
        0x67, 0x64, 0x00, 0x1E, 0xAC, 0xD9, 0x40, 0xA0, 0x2F, 0xF9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3C,
        0x0F, 0x16, 0x2D, 0x96,
    ]
    static let pps: [UInt8] = [0x68, 0xEB, 0xE3, 0xCB, 0x22, 0xC0]

    public static let handshakeSeed: [UInt8] = [3] + RTMPHandshakeDigest.clientC1(scheme: 0) + [UInt8](repeating: 0x5A, count: 1536)

    public static let amfSeed: [UInt8] = AMF0Encoder.encode([
        .string("@setDataFrame"), .string("onMetaData"),
        .ecmaArray([
            "width": .number(1280), "height": .number(720), "videocodecid": .number(7), "encoder": .string("obs"),
            "nested": .object(["list": .strictArray([.number(1), .null, .date(0, timeZone: 0)])]),
        ]),
        .typedObject(className: "x", ["y": .boolean(true)]), .xmlDocument("<x/>"),
    ])

    public static let flvSeeds: [[UInt8]] = [
        [0x17, 0, 0, 0, 0, 1, 0x64, 0x00, 0x1E, 0xFF, 0xE1, 0, UInt8(sps.count)] + sps + [1, 0, UInt8(pps.count)] + pps,
        [0x27, 1, 0, 0, 0x42, 0, 0, 0, 5, 0x41, 1, 2, 3, 4],
        [0xAF, 0, 0x11, 0x90],
        [0xAF, 1, 0x21, 0x10, 0x04],
        [0x90] + Array("hvc1".utf8) + [0, 0, 0],
    ]

    /// Synthetic publishes that exercise every message the session handles.
    public static func seedCorpus() -> [[UInt8]] {
        func command(_ values: [AMF0Value], stream: UInt32 = 0) -> RTMPMessage {
            RTMPMessage(typeID: 20, messageStreamID: stream, chunkStreamID: 3, payload: AMF0Encoder.encode(values))
        }
        var messages: [RTMPMessage] = [
            command([.string("connect"), .number(1), .object(["app": .string("live"), "tcUrl": .string("rtmp://h/live")])]),
            .windowAcknowledgementSize(4096),
            command([.string("releaseStream"), .number(2), .null, .string("key")]),
            command([.string("FCPublish"), .number(3), .null, .string("key")]),
            command([.string("createStream"), .number(4), .null]),
            command([.string("publish"), .number(5), .null, .string("key"), .string("live")], stream: 1),
            RTMPMessage(typeID: 18, messageStreamID: 1, chunkStreamID: 4, payload: amfSeed),
            RTMPMessage(typeID: 9, messageStreamID: 1, chunkStreamID: 6, payload: flvSeeds[0]),
            RTMPMessage(typeID: 8, messageStreamID: 1, chunkStreamID: 4, payload: flvSeeds[2]),
        ]
        for index in 0..<12 {
            let timestamp = UInt32(index * 33) + (index > 8 ? 0x00FF_FFF0 : 0)
            let size = [10, 300, 140, 5000][index % 4]
            messages.append(
                RTMPMessage(
                    typeID: 9, timestamp: timestamp, messageStreamID: 1, chunkStreamID: 6,
                    payload: [index % 6 == 0 ? 0x17 : 0x27, 1, 0, 0, 0x21] + RTMPMessage.bigEndian(UInt32(size))
                        + [UInt8](repeating: 0x41, count: size)))
            messages.append(
                RTMPMessage(typeID: 8, timestamp: timestamp, messageStreamID: 1, chunkStreamID: 4, payload: [0xAF, 1, 0x21, 0x10]))
        }
        messages += [
            .userControl(.pingRequest, 7),
            RTMPMessage(typeID: 2, chunkStreamID: 2, payload: [0, 0, 0, 6]),
            RTMPMessage(
                typeID: 22, timestamp: 500, messageStreamID: 1, chunkStreamID: 6,
                payload: [8, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0] + flvSeeds[3] + [0, 0, 0, 15]),
            RTMPMessage(typeID: 17, chunkStreamID: 3, payload: [0] + AMF0Encoder.encode([.string("play"), .number(9), .null])),
            command([.string("FCUnpublish"), .number(6), .null, .string("key")]),
            command([.string("deleteStream"), .number(7), .null, .number(1)]),
        ]
        var small = RTMPChunkEncoder()
        var large = RTMPChunkEncoder()
        var smallBytes: [UInt8] = []
        var largeBytes: [UInt8] = []
        for (index, message) in messages.enumerated() {
            smallBytes += small.encode(message)
            if index == 1 { largeBytes += large.encode(.setChunkSize(1000)) }
            largeBytes += large.encode(message)
        }
        return [smallBytes, largeBytes]
    }
}
