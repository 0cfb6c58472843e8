// Fuzzes the RTMP ingest parsers: `swift run IngestFuzz [cases] [seed] [capture files...]`.
// Every case is a mutated seed (a synthetic publish, or a capture given on the command line) or
// random bytes, fed to the handshake, the chunk decoder + session, AMF0 and FLV parsers. A trap
// stops the run with the seed and case number that reproduce it.
import Foundation
import Ingest
import IngestFuzzing

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let arguments = CommandLine.arguments.dropFirst()
let cases = arguments.first.flatMap(Int.init) ?? 1_000_000
let seed = arguments.dropFirst().first.flatMap(UInt64.init) ?? UInt64(Date().timeIntervalSince1970)
var corpus = IngestFuzzer.seedCorpus()
for path in arguments.dropFirst(2) {
    if let data = FileManager.default.contents(atPath: path) { corpus.append(Array(data)) }
}
print("IngestFuzz: \(cases) cases, seed \(seed), \(corpus.count) seeds")
var generator = SplitMix(state: seed)
let start = Date()
for index in 0..<cases {
    if index % 100_000 == 0, index > 0 {
        print("  \(index) cases, \(Int(Double(index) / Date().timeIntervalSince(start))) per second")
    }
    let base = corpus[Int.random(in: 0..<corpus.count, using: &generator)]
    switch index % 10 {
    case 0:
        let random = (0..<Int.random(in: 0...512, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        IngestFuzzer.chunkStream(random, splitSeed: generator.next())
    case 1:
        IngestFuzzer.handshake(IngestFuzzer.mutate(IngestFuzzer.handshakeSeed, using: &generator))
    case 2:
        IngestFuzzer.amf(IngestFuzzer.mutate(IngestFuzzer.amfSeed, using: &generator))
    case 3:
        IngestFuzzer.flv(IngestFuzzer.mutate(IngestFuzzer.flvSeeds[index / 10 % IngestFuzzer.flvSeeds.count], using: &generator))
    default:
        IngestFuzzer.chunkStream(IngestFuzzer.mutate(base, using: &generator), splitSeed: generator.next())
    }
}
let seconds = Date().timeIntervalSince(start)
print("IngestFuzz: \(cases) cases in \(String(format: "%.1f", seconds)) s, no trap")
