import EventStore
import Foundation
import Media
import Synchronization
import Testing
import TranscodeFiles

@testable import Transcode

/// The real ffmpeg/ffprobe CLIs, a temp folder per test, and a harness that runs a transcoder and
/// collects every rendition and event.
enum MediaTools {
    struct ToolFailure: Error, CustomStringConvertible {
        var description: String
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("transcode-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @discardableResult
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/\(tool)")
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ToolFailure(
                description: "\(tool) \(arguments.joined(separator: " ")) failed: \(String(decoding: errorData, as: UTF8.self).suffix(800))"
            )
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A test clip from lavfi sources: testsrc2 (plus noise when `noisy`) and a sine tone.
    static func makeClip(
        _ path: URL, width: Int, height: Int, rate: Int = 30, seconds: Double, videoCodec: [String], audioCodec: [String],
        noisy: Bool = false
    ) throws {
        var filter = "testsrc2=size=\(width)x\(height):rate=\(rate):duration=\(seconds)"
        if noisy { filter += ",noise=alls=12:allf=t" }
        try run(
            "ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-y",
                "-f", "lavfi", "-i", filter,
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=\(seconds)",
                "-ac", "2", "-pix_fmt", "yuv420p",
            ] + videoCodec + audioCodec + ["-shortest", path.path])
    }

    static func h264(gop: Int, bframes: Int = 0) -> [String] {
        [
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "\(gop)", "-keyint_min", "\(gop)", "-sc_threshold", "0", "-bf", "\(bframes)",
            "-b:v", "3M",
        ]
            + (bframes > 0 ? ["-x264-params", "b-adapt=0"] : [])
    }

    static let aac = ["-c:a", "aac", "-b:a", "128k"]

    // MARK: ffprobe

    struct Stream: Decodable {
        var codec_name: String?
        var codec_type: String?
        var profile: String?
        var width: Int?
        var height: Int?
        var avg_frame_rate: String?
        var sample_rate: String?
        var channels: Int?
        var has_b_frames: Int?
        var start_time: String?

        var frameRate: Double? {
            guard let parts = avg_frame_rate?.split(separator: "/"), parts.count == 2,
                let n = Double(parts[0]), let d = Double(parts[1]), d > 0
            else { return nil }
            return n / d
        }
    }

    struct ProbedPacket {
        var pts: Double
        var dts: Double
        var size: Int
        var isKeyframe: Bool
    }

    static func streams(_ path: URL) throws -> [Stream] {
        struct Output: Decodable { var streams: [Stream] }
        let json = try run(
            "ffprobe",
            [
                "-v", "error", "-show_entries",
                "stream=codec_name,codec_type,profile,width,height,avg_frame_rate,sample_rate,channels,has_b_frames,start_time", "-of",
                "json", path.path,
            ])
        return try JSONDecoder().decode(Output.self, from: Data(json.utf8)).streams
    }

    static func packets(_ path: URL, stream: String) throws -> [ProbedPacket] {
        let csv = try run(
            "ffprobe",
            ["-v", "error", "-select_streams", stream, "-show_entries", "packet=pts_time,dts_time,size,flags", "-of", "csv=p=0", path.path])
        return csv.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 4, let pts = Double(fields[0]), let size = Int(fields[2]) else { return nil }
            return ProbedPacket(pts: pts, dts: Double(fields[1]) ?? pts, size: size, isKeyframe: fields[3].contains("K"))
        }
    }

    static func keyframeTimes(_ path: URL) throws -> [Double] {
        try packets(path, stream: "v:0").filter(\.isKeyframe).map { ($0.pts * 1000).rounded() / 1000 }
    }
}

/// Everything one transcode produced.
struct TranscodeRun {
    struct Output {
        var rendition: Rendition
        var items: [MediaItem]
        var track: TrackInfo? {
            for item in items { if case .track(let track) = item { return track } }
            return nil
        }
        var packets: [MediaPacket] {
            items.compactMap { if case .packet(let packet) = $0 { packet } else { nil } }
        }
    }

    var outputs: [String: Output]
    var events: [any DomainEvent]
    var error: TranscodeError?

    var videoNames: Set<String> { Set(outputs.values.filter { $0.rendition.kind == .video }.map(\.rendition.name)) }

    func started(_ name: String) -> [RenditionStarted] {
        events.compactMap { $0 as? RenditionStarted }.filter { $0.rendition == name }
    }

    func stopped(_ name: String) -> [RenditionStopped] {
        events.compactMap { $0 as? RenditionStopped }.filter { $0.rendition == name }
    }

    /// Writes each video rendition with the audio rendition to `folder/NAME.mp4`.
    func write(to folder: URL) throws -> [String: URL] {
        var files: [String: URL] = [:]
        let audio = outputs["audio"]
        for output in outputs.values where output.rendition.kind == .video {
            guard let track = output.track else { continue }
            let url = folder.appendingPathComponent("\(output.rendition.name).mp4")
            var tracks = [track]
            if let audioTrack = audio?.track { tracks.append(audioTrack) }
            let sink = try FileSink(path: url.path, tracks: tracks)
            var video = output.packets[...]
            var sound = (audio?.packets ?? [])[...]
            // Interleave by decode time so the muxer need not buffer a whole track.
            while !video.isEmpty || !sound.isEmpty {
                if let v = video.first, sound.first.map({ v.timebase.seconds(v.dts) <= $0.timebase.seconds($0.dts) }) ?? true {
                    try sink.write(v, track: 0)
                    video.removeFirst()
                } else if let a = sound.first {
                    try sink.write(a, track: 1)
                    sound.removeFirst()
                }
            }
            try sink.finish()
            files[output.rendition.name] = url
        }
        return files
    }

    /// Runs a transcoder over `input`; `onItem` may drive the control API as the input advances.
    static func transcode<Input: AsyncSequence & Sendable>(
        _ input: Input, ladder: Ladder = .default, options: TranscodeOptions = .file,
        onItem: (@Sendable (MediaItem, Transcoder) -> Void)? = nil
    ) async -> TranscodeRun where Input.Element == MediaItem {
        let events = EventLog()
        let transcoder = Transcoder(channel: "test", ladder: ladder, options: options) { event in
            events.events.withLock { $0.append(event) }
        }
        async let collected: [String: Output] = withTaskGroup(of: Output.self) { group in
            for await rendition in transcoder.renditions {
                group.addTask {
                    var items: [MediaItem] = []
                    for await item in rendition.items { items.append(item) }
                    return Output(rendition: rendition, items: items)
                }
            }
            var outputs: [String: Output] = [:]
            for await output in group { outputs[output.rendition.name] = output }
            return outputs
        }
        var failure: TranscodeError?
        do {
            if let onItem {
                try await transcoder.run(ObservedSequence(base: input, transcoder: transcoder, onItem: onItem))
            } else {
                try await transcoder.run(input)
            }
        } catch {
            failure = error
        }
        let outputs = await collected
        return TranscodeRun(outputs: outputs, events: events.events.withLock { $0 }, error: failure)
    }
}

/// Calls `onItem` for each item before passing it on.
struct ObservedSequence<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == MediaItem {
    typealias Element = MediaItem
    let base: Base
    let transcoder: Transcoder
    let onItem: @Sendable (MediaItem, Transcoder) -> Void

    struct Iterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let transcoder: Transcoder
        let onItem: @Sendable (MediaItem, Transcoder) -> Void
        mutating func next() async throws -> MediaItem? {
            guard let item = try await base.next() else { return nil }
            onItem(item, transcoder)
            return item
        }
    }

    func makeAsyncIterator() -> Iterator {
        Iterator(base: base.makeAsyncIterator(), transcoder: transcoder, onItem: onItem)
    }
}

final class EventLog: Sendable {
    let events = Mutex<[any DomainEvent]>([])
}
