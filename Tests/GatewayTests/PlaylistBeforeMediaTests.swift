import Foundation
import Logging
import Media
import Packager
import Testing

/// A rendition's media playlist is not served before its first part: until the track arrives,
/// PART-TARGET is the configured one, and the track may declare a longer one (parts of whole
/// frames with millisecond timestamps). A playlist served in between would change PART-TARGET
/// between two reloads, which stops Apple's players for good.
struct PlaylistBeforeMediaTests {
    @Test func noPlaylistBeforeTheFirstPartThenOnePartTargetForGood() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-before-media-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let stream = StreamPackager(
            identity: SessionIdentity(
                sessionID: UUID().uuidString.lowercased(), channelID: UUID().uuidString.lowercased(), channelName: "early"),
            origin: OriginStore(root: root), options: PackagerOptions(), longestKeyframeInterval: 2,
            logger: Logger(label: "before-media"), events: { _ in })
        let (items, feed) = AsyncStream.makeStream(of: MediaItem.self)
        stream.add(rendition: "source", kind: .video, bitrate: 1_000_000, items: items)
        let rendition = try #require(stream.rendition(named: "source"))

        guard case .notFound(let reason) = await rendition.playlist(query: [:]) else {
            Issue.record("a playlist was served before any media")
            return
        }
        #expect(reason.contains("no media yet"), "\(reason)")

        // RTMP's millisecond timestamps: 30 fps frames do not fall on the part grid.
        var track = PlaybackFixture.videoTrack
        track.timebase = Timebase(1, 1000)
        feed.yield(.track(track))
        for frame in 0..<90 {
            let ms = Int64(frame) * 1000 / 30
            feed.yield(
                .packet(
                    MediaPacket(
                        track: .video, pts: ms, dts: ms, timebase: Timebase(1, 1000), isKeyframe: frame % 60 == 0,
                        data: [0, 0, 0, 2, frame % 60 == 0 ? 0x65 : 0x41, 0x80])))
        }
        var texts: [String] = []
        for _ in 0..<200 where texts.count < 2 {
            if case .ready(let text) = await rendition.playlist(query: [:]), text.contains("#EXT-X-PART:") { texts.append(text) }
            try await Task.sleep(for: .milliseconds(10))
        }
        feed.finish()
        await stream.finish()
        if case .ready(let text) = await rendition.playlist(query: [:]) { texts.append(text) }
        let targets = Set(texts.map { $0.split(separator: "\n").first { $0.hasPrefix("#EXT-X-PART-INF:") } ?? "none" })
        #expect(texts.count >= 2 && targets.count == 1, "\(targets)")
    }
}
