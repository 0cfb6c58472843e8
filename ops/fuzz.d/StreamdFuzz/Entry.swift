// One executable for every libFuzzer target (ops/fuzz builds it once with -sanitize=fuzzer,address):
// STREAMD_FUZZ_TARGET names the target. Built without STREAMD_LIBFUZZER (the suite's plain build),
// it replays inputs instead: `StreamdFuzz TARGET FILE...`.
import Foundation

/// Every target: a name and a function that traps (fatalError) when its parser misbehaves.
let fuzzTargets: [String: @Sendable ([UInt8]) -> Void] = [
    "http-raw": HTTPTargets.rawPath,
    "http-guard": HTTPTargets.connectionGuard,
    "ts": MediaTargets.transportStream,
    "adts": MediaTargets.adts,
    "opus": MediaTargets.opus,
    "cmaf": MediaTargets.cmaf,
    "amf0": IngestTargets.amf0,
    "rtmp-chunk": IngestTargets.rtmpChunk,
    "viewer-token": ChatTargets.viewerToken,
    "chat-frame": ChatTargets.clientFrame,
    "export": ProofTargets.export,
    "checkpoint": ProofTargets.checkpoint,
    "webhook-answer": WebhookTargets.answer,
]

let selectedTarget: @Sendable ([UInt8]) -> Void = {
    let name = ProcessInfo.processInfo.environment["STREAMD_FUZZ_TARGET"] ?? ""
    guard let target = fuzzTargets[name] else {
        let names = fuzzTargets.keys.sorted().joined(separator: ", ")
        FileHandle.standardError.write(Data("StreamdFuzz: set STREAMD_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selectedTarget(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !STREAMD_LIBFUZZER
@main enum Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = fuzzTargets[name], arguments.count > 1 else {
            print("usage: StreamdFuzz TARGET FILE...   (targets: \(fuzzTargets.keys.sorted().joined(separator: ", ")))")
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("StreamdFuzz: cannot read \(path)")
                exit(1)
            }
            target(Array(data))
            print("\(path): ok")
        }
    }
}
#endif
