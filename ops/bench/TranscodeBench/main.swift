// Benchmark driver for `ops/bench/transcode`: one whole process per measured run.
//
//   TranscodeBench ladder CLIP [encoderThreads[/topRungThreads]] [decoderThreads] [cascade|source]
//       encodes the default 4-rung ladder (no passthrough) from CLIP as fast as it can
//   TranscodeBench live CLIP STREAMS
//       runs STREAMS concurrent live transcodes (input paced in real time, passthrough top + encoded
//       rungs) and reports each stream's worst lag and median lag: how long after its due time
//       (start + media time) an encoded packet came out, x264's look-ahead included.
//
// Environment: STREAMD_LADDER_TUNING=low-latency|quality picks the ladder's tuning (default: the
// ladder's own); STREAMD_WRITE_RUNGS=DIR makes `ladder` write each rung as Annex B (DIR/NAME.h264)
// for PSNR against the source.
import Foundation
import Media
import Synchronization
import Transcode
import TranscodeFiles

@main
struct TranscodeBench {
    static func main() async {
        let arguments = CommandLine.arguments
        guard arguments.count >= 3 else {
            print("usage: TranscodeBench ladder CLIP [encoderThreads] [decoderThreads] | live CLIP STREAMS")
            exit(2)
        }
        let clip = arguments[2]
        switch arguments[1] {
        case "ladder":
            // "2" for every rung, or "1/2": 1 for the lower rungs, 2 for the tallest.
            let threads = arguments.count > 3 ? arguments[3].split(separator: "/").compactMap { Int($0) } : [1]
            let encoderThreads = threads.first ?? 1
            let topThreads = threads.last ?? encoderThreads
            let decoderThreads = arguments.count > 4 ? Int(arguments[4]) ?? 1 : 1
            let scaling: TranscodeOptions.Scaling = arguments.count > 5 && arguments[5] == "source" ? .fromSource : .cascade
            await ladder(
                clip: clip, encoderThreads: encoderThreads, topThreads: topThreads, decoderThreads: decoderThreads, scaling: scaling)
        case "live":
            let streams = arguments.count > 3 ? Int(arguments[3]) ?? 1 : 1
            await live(clip: clip, streams: streams)
        default:
            print("unknown mode \(arguments[1])")
            exit(2)
        }
    }

    static func ladder(clip: String, encoderThreads: Int, topThreads: Int, decoderThreads: Int, scaling: TranscodeOptions.Scaling) async {
        var options = TranscodeOptions.file
        options.topRungEncoderThreads = topThreads
        options.scaling = scaling
        options.encoderThreads = encoderThreads
        options.decoderThreads = decoderThreads
        var ladder = Ladder.default
        ladder.allowsPassthrough = false
        ladder.tuning = tuning ?? ladder.tuning
        let write = ProcessInfo.processInfo.environment["STREAMD_WRITE_RUNGS"]
        let transcoder = Transcoder(channel: "bench", ladder: ladder, options: options) { _ in }
        let start = ContinuousClock.now
        async let counts: [String: (Int, Int)] = withTaskGroup(of: (String, Int, Int).self) { group in
            for await rendition in transcoder.renditions {
                group.addTask {
                    var packets = 0
                    var bytes = 0
                    let file = write.flatMap { rendition.kind == .video ? AnnexBFile(path: "\($0)/\(rendition.name).h264") : nil }
                    for await item in rendition.items {
                        switch item {
                        case .packet(let packet):
                            packets += 1
                            bytes += packet.data.count
                            file?.write(packet)
                        case .track(let track):
                            file?.write(track)
                        case .discontinuity:
                            break
                        }
                    }
                    file?.close()
                    return (rendition.name, packets, bytes)
                }
            }
            var result: [String: (Int, Int)] = [:]
            for await (name, packets, bytes) in group { result[name] = (packets, bytes) }
            return result
        }
        do {
            try await transcoder.run(FileSource(path: clip))
        } catch {
            print("transcode failed: \(error)")
            exit(1)
        }
        let result = await counts
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        for name in result.keys.sorted() {
            if let (packets, bytes) = result[name] {
                print("  \(name): \(packets) packets, \(bytes * 8 / 10 / 1000) kb/s over 10 s")
            }
        }
        print(String(format: "in-process transcode: %.2f s", seconds))
    }

    static func live(clip: String, streams: Int) async {
        let start = ContinuousClock.now
        let stats = LiveStats(streams: streams)
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<streams {
                group.addTask {
                    var ladder = Ladder.default
                    ladder.tuning = tuning ?? ladder.tuning
                    let transcoder = Transcoder(channel: "live-\(index)", ladder: ladder, options: TranscodeOptions(overload: nil)) { _ in }
                    await withTaskGroup(of: Void.self) { inner in
                        inner.addTask {
                            try? await transcoder.run(FileSource(path: clip, realTime: true))
                        }
                        for await rendition in transcoder.renditions where rendition.kind == .video && !rendition.isPassthrough {
                            inner.addTask {
                                for await item in rendition.items {
                                    guard case .packet(let packet) = item else { continue }
                                    // How long after its due time (stream start + its media time) the
                                    // packet came out; the clip's timestamps start at zero.
                                    let due = packet.timebase.seconds(packet.pts)
                                    let lag = (ContinuousClock.now - start) / .seconds(1) - due
                                    stats.worst.withLock { $0[index] = max($0[index], lag) }
                                    stats.lags.withLock { $0[rendition.name, default: []].append(lag) }
                                }
                            }
                        }
                    }
                }
            }
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        let lags = stats.worst.withLock { $0 }
        let text = lags.map { String(format: "%.2f", $0) }.joined(separator: " ")
        let medians = stats.lags.withLock { $0 }.sorted { $0.key < $1.key }.map { name, values in
            // The first second is the encoders' start-up, not their steady lag.
            let steady = values.dropFirst(30).sorted()
            return String(format: "%@=%.3f", name, steady.isEmpty ? 0 : steady[steady.count / 2])
        }
        print(
            String(
                format: "live streams=%d wall=%.2f s worst-lag-per-stream=[%@] s median-lag-per-rung=[%@] s", streams, seconds, text,
                medians.joined(separator: " ")))
    }

    static var tuning: LadderTuning? {
        ProcessInfo.processInfo.environment["STREAMD_LADDER_TUNING"].flatMap(LadderTuning.init(rawValue:))
    }
}

final class LiveStats: Sendable {
    let worst: Mutex<[Double]>
    let lags = Mutex<[String: [Double]]>([:])

    init(streams: Int) {
        worst = Mutex(Array(repeating: 0, count: streams))
    }
}

/// One rung's packets as an Annex B elementary stream (SPS/PPS before each track), which ffmpeg reads
/// for PSNR. Used from one task only.
final class AnnexBFile: @unchecked Sendable {
    let handle: FileHandle

    init?(path: String) {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            return nil
        }
        self.handle = handle
    }

    func write(_ track: TrackInfo) {
        guard case .avc(let record) = track.configuration else { return }
        var bytes: [UInt8] = []
        for unit in record.sequenceParameterSets + record.pictureParameterSets { bytes += [0, 0, 0, 1] + unit }
        handle.write(Data(bytes))
    }

    func write(_ packet: MediaPacket) {
        var bytes: [UInt8] = []
        var data = packet.data[...]
        while data.count >= 4 {
            let length = data.prefix(4).reduce(0) { $0 << 8 | Int($1) }
            data = data.dropFirst(4)
            guard length <= data.count else { break }
            bytes += [0, 0, 0, 1] + data.prefix(length)
            data = data.dropFirst(length)
        }
        handle.write(Data(bytes))
    }

    func close() { try? handle.close() }
}
