import Ingest
import IngestFuzzing

/// RTMP publishers' bytes after the handshake.
enum IngestTargets {
    /// AMF0 values, then a round trip: what decodes re-encodes to bytes that decode to the same
    /// encoding again.
    @Sendable static func amf0(_ data: [UInt8]) {
        IngestFuzzer.amf(data)
        guard let values = try? AMF0Decoder.decodeAll(data) else { return }
        let encoded = AMF0Encoder.encode(values)
        guard let again = try? AMF0Decoder.decodeAll(encoded) else {
            fatalError("AMF0 that decoded does not decode once re-encoded: \(values)")
        }
        guard AMF0Encoder.encode(again) == encoded else { fatalError("AMF0 round trip changed \(values) into \(again)") }
    }

    /// The chunk decoder and the session over the input, read in two pieces (cut where the last
    /// byte says), and the handshake and the FLV payload parsers on the same bytes.
    @Sendable static func rtmpChunk(_ data: [UInt8]) {
        IngestFuzzer.chunkStream(data, splitSeed: UInt64(data.last ?? 0) &* 0x9E37_79B9)
        IngestFuzzer.handshake(data)
        IngestFuzzer.flv(data)
    }
}
