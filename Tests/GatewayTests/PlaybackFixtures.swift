import Foundation
import Logging
import Media
import NIOCore
import Packager

/// A `PlaybackDirectory` with one packaged live session and no encoder: `StreamPackager` is fed
/// synthetic H.264 and AAC packets (the shapes `Tests/PackagerTests` uses) and run to its end, so
/// its renditions hold an init segment, parts and whole segments in memory.
///
/// Channel `demo`, renditions `720p` (video, 30 fps, a keyframe every 2 s) and `audio` (AAC,
/// 48 kHz), 5 s of each: with the default options (parts 0.5 s, segments 2 s) video segments 0 and
/// 1 have four parts each and segment 2 (the last second) has two.
struct PlaybackFixture: Sendable {
    static let channel = "demo"
    static let video = "720p"
    static let audio = "audio"

    let directory: PlaybackDirectory
    let stream: StreamPackager

    var sessionID: String { stream.identity.sessionID }

    /// The rendition's file as the packager serves it from memory; fails the test when absent.
    func file(_ rendition: String, _ name: String) throws -> MediaFile {
        guard let resource = HLSResource(name: name),
            let file = stream.rendition(named: rendition)?.fileInMemory(resource)
        else { throw FixtureError("\(rendition)/\(name) is not in memory") }
        return file
    }

    static func make() async throws -> PlaybackFixture {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-playback-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let identity = SessionIdentity(
            sessionID: UUID().uuidString.lowercased(), channelID: UUID().uuidString.lowercased(), channelName: channel)
        let stream = StreamPackager(
            // 0.5 s parts: four per 2 s segment, which the tests name.
            identity: identity, origin: OriginStore(root: root), options: PackagerOptions(partTarget: 0.5), longestKeyframeInterval: 2,
            logger: Logger(label: "playback-fixture"), events: { _ in })
        stream.add(
            rendition: video, kind: .video, bitrate: 1_000_000,
            items: items([.track(videoTrack)] + videoPackets(seconds: 5).map { .packet($0) }))
        stream.add(
            rendition: audio, kind: .audio, bitrate: 128_000,
            items: items([.track(audioTrack)] + audioPackets(seconds: 5).map { .packet($0) }))
        // Every item is queued and the streams end: this returns once both renditions are packaged.
        await stream.finish()
        let directory = PlaybackDirectory()
        directory.register(stream)
        let fixture = PlaybackFixture(directory: directory, stream: stream)
        for name in ["init.mp4", "s0.p0.m4s", "s1.p3.m4s", "s0.m4s"] { _ = try fixture.file(video, name) }
        _ = try fixture.file(audio, "init.mp4")
        return fixture
    }

    private static func items(_ list: [MediaItem]) -> AsyncStream<MediaItem> {
        let (stream, continuation) = AsyncStream.makeStream(of: MediaItem.self)
        for item in list { continuation.yield(item) }
        continuation.finish()
        return stream
    }

    // MARK: Synthetic media (as `SegmenterHarness` in PackagerTests)

    /// Constrained Baseline 3.0, 320×240, as x264 wrote it.
    private static let sps = hex("6742c01ed90141fb0110000003001000000303c0f162e480")
    private static let pps = hex("68cb83cb20")

    static let videoTrack = TrackInfo(
        kind: .video, codec: .h264,
        configuration: .avc(
            AVCDecoderConfigurationRecord(
                profileIndication: sps[1], profileCompatibility: sps[2], levelIndication: sps[3],
                sequenceParameterSets: [sps], pictureParameterSets: [pps])),
        timebase: .mpeg90kHz, width: 320, height: 240, frameRate: 30)

    static let audioTrack = TrackInfo(
        kind: .audio, codec: .aac, configuration: .aac(AudioSpecificConfig(objectType: 2, sampleRate: 48000, channelConfiguration: 2)),
        timebase: Timebase(1, 48000), sampleRate: 48000, channels: 2)

    /// 30 fps, a keyframe every 60 frames; every frame's bytes differ from its neighbours'.
    static func videoPackets(seconds: Int) -> [MediaPacket] {
        (0..<30 * seconds).map { frame in
            let pts = Timebase(1, 30).convert(Int64(frame), to: .mpeg90kHz)
            let size = frame % 60 == 0 ? 900 : 100 + frame % 7
            return MediaPacket(
                track: .video, pts: pts, dts: pts, timebase: .mpeg90kHz, isKeyframe: frame % 60 == 0,
                data: [UInt8](repeating: UInt8(truncatingIfNeeded: frame), count: size))
        }
    }

    /// AAC frames of 1024 samples at 48 kHz.
    static func audioPackets(seconds: Int) -> [MediaPacket] {
        (0..<(48000 * seconds / 1024)).map { frame in
            let pts = Int64(frame) * 1024
            return MediaPacket(
                track: .audio, pts: pts, dts: pts, timebase: Timebase(1, 48000), isKeyframe: true,
                data: [UInt8](repeating: 0x21, count: 200 + frame % 5))
        }
    }

    private static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
