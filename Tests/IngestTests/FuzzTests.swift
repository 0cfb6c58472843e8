import IngestFuzzing
import NIOCore
import TestSupport
import Testing

@testable import Ingest

/// Random and mutated inputs for every parser: each must return or throw a typed error, never trap.
/// (The long runs are libFuzzer's: `ops/fuzz`, target rtmp-chunk and amf0.)
@Suite struct FuzzTests {
    static let cases = 3000

    @Test func chunkDecoderAndSessionSurviveMutatedStreams() {
        let seeds = IngestFuzzer.seedCorpus() + [RTMPChunkStreamTests.encode(RTMPChunkStreamTests.sampleMessages())]
        var generator = SeededGenerator(state: 7)
        for index in 0..<Self.cases {
            let input = IngestFuzzer.mutate(seeds[index % seeds.count], using: &generator)
            IngestFuzzer.chunkStream(input, splitSeed: generator.next())
        }
    }

    @Test func chunkDecoderSurvivesRandomBytes() {
        var generator = SeededGenerator(state: 8)
        for _ in 0..<Self.cases {
            let input = (0..<Int.random(in: 0...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            IngestFuzzer.chunkStream(input, splitSeed: generator.next())
        }
    }

    @Test func handshakeSurvivesRandomAndTruncatedInput() {
        var generator = SeededGenerator(state: 9)
        let valid = [3] + RTMPHandshakeDigest.clientC1(scheme: 0) + RTMPHandshakeDigest.randomBytes(1536)
        for index in 0..<300 {
            let input =
                index % 2 == 0
                ? Array(valid[0..<Int.random(in: 0...valid.count, using: &generator)])
                : IngestFuzzer.mutate(valid, using: &generator)
            IngestFuzzer.handshake(input)
        }
    }

    /// onMetaData's data rates are a publisher's Doubles: 1e300 kbit/s trapped converting to Int
    /// (ops/fuzz's rtmp-chunk target; the input is in ops/fuzz.d/corpus/rtmp-chunk).
    @Test func metadataBitratesOutOfRangeAreDropped() {
        #expect(RTMPSession.bitrate(kilobits: 2_500) == 2_500_000)
        for figure in [1e300, -1, 0, .nan, .infinity, -.infinity] {
            #expect(RTMPSession.bitrate(kilobits: figure) == nil, "\(figure)")
        }
    }

    @Test func amfAndFLVParsersSurviveMutations() {
        var generator = SeededGenerator(state: 10)
        let amf = AMF0Encoder.encode(AMF0Tests.nested.filter { if case .string(let s) = $0 { s.count < 100 } else { true } })
        let video: [UInt8] = [
            0x17, 0x00, 0, 0, 0, 0x01, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x04, 0x67, 0x64, 0x00, 0x1F, 0x01, 0x00, 0x02, 0x68, 0xEE,
        ]
        let audio: [UInt8] = [0xAF, 0x00, 0x11, 0x90]
        for _ in 0..<Self.cases {
            IngestFuzzer.amf(IngestFuzzer.mutate(amf, using: &generator))
            IngestFuzzer.flv(IngestFuzzer.mutate(video, using: &generator))
            IngestFuzzer.flv(IngestFuzzer.mutate(audio, using: &generator))
        }
    }
}
