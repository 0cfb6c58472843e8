import EventStore
import Foundation
import Media
import NIOCore

@testable import Ingest

/// Records what Ingest emits, for assertions.
actor RecordedEvents {
    struct Entry: Sendable {
        var streamID: String
        var event: any DomainEvent
        var metadata: EventMetadata
    }

    private(set) var entries: [Entry] = []

    nonisolated var sink: IngestEventSink {
        { streamID, event, metadata in await self.append(Entry(streamID: streamID, event: event, metadata: metadata)) }
    }

    private func append(_ entry: Entry) { entries.append(entry) }

    func events<E: DomainEvent>(_ type: E.Type) -> [E] { entries.compactMap { $0.event as? E } }

    func entries<E: DomainEvent>(of type: E.Type) -> [(event: E, entry: Entry)] {
        entries.compactMap { entry in (entry.event as? E).map { ($0, entry) } }
    }

    var types: [String] { entries.map { type(of: $0.event).eventType } }

    /// Waits until `predicate` holds (checked every 50 ms) or the timeout passes.
    func waitUntil(timeout: Duration = .seconds(10), _ predicate: @Sendable ([Entry]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if predicate(entries) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return predicate(entries)
    }
}

struct ProcessResult: Sendable {
    var status: Int32
    var stderr: String
}

/// Runs a CLI tool (ffmpeg, ffprobe) and returns its exit status and stderr.
final class ToolProcess: Sendable {
    let process: Process
    private let errorPipe: Pipe

    init(_ tool: String, _ arguments: [String]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        errorPipe = Pipe()
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    func wait() async -> ProcessResult {
        let pipe = errorPipe
        let process = process
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(
                    returning: ProcessResult(status: process.terminationStatus, stderr: String(decoding: data, as: UTF8.self)))
            }
        }
    }

    static func run(_ tool: String, _ arguments: [String]) async throws -> ProcessResult {
        try await ToolProcess(tool, arguments).wait()
    }
}

func ffmpegPublish(port: Int, key: String, seconds: Int, app: String = "live") throws -> ToolProcess {
    try ToolProcess(
        "/usr/bin/ffmpeg",
        [
            "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-t", "\(seconds)",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", "-ac", "2",
            "-f", "flv", "rtmp://127.0.0.1:\(port)/\(app)/\(key)",
        ])
}

/// Collects a session's media items until the sequence ends.
func collect(_ session: LiveSession) async -> [MediaItem] {
    var items: [MediaItem] = []
    for await item in session.media { items.append(item) }
    return items
}

extension Array where Element == MediaItem {
    var packets: [MediaPacket] {
        compactMap { if case .packet(let packet) = $0 { packet } else { nil } }
    }

    var trackInfos: [TrackInfo] {
        compactMap { if case .track(let track) = $0 { track } else { nil } }
    }

    var discontinuities: Int {
        count { if case .discontinuity = $0 { true } else { false } }
    }
}

extension ByteBuffer {
    init(_ bytes: [UInt8]) {
        self.init()
        writeBytes(bytes)
    }
}
