import Foundation
import Logging
import Media
import Testing

@testable import Transcode

@Suite("Live thumbnails", .serialized)
struct LiveThumbnailsTests {
    @Test func aLiveChannelsPictureIsRenderedOnDemandSharedCachedAndKept() async throws {
        let folder = try MediaTools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (track, keyframes) = try await ThumbnailerTests.keyframes(width: 640, height: 360, seconds: 4, gop: 30)
        try #require(keyframes.count >= 4)
        let refresh = Duration.seconds(3)
        let thumbnails = LiveThumbnails(options: .init(directory: folder, refreshInterval: refresh), logger: Logger(label: "test"))

        let tap = thumbnails.tap(channel: "demo")
        guard case .waitingForKeyframe = await thumbnails.thumbnail(channel: "demo") else {
            Issue.record("live without a keyframe or a saved picture: waiting")
            return
        }
        for item in [MediaItem.track(track), .packet(keyframes[0])] { tap.observe(item) }
        // Requests at once share one render.
        let answers = await withTaskGroup(of: ThumbnailAnswer.self) { group in
            for _ in 0..<6 { group.addTask { await thumbnails.thumbnail(channel: "demo") } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let first = answers.compactMap { if case .live(let picture, _) = $0 { picture } else { nil } }
        #expect(first.count == 6 && Set(first.map(\.etag)).count == 1)
        let picture = try #require(first.first)
        #expect(ThumbnailerTests.jpegSize(picture.jpeg)! == (640, 360))
        let file = folder.appendingPathComponent("demo.jpg")
        #expect(try Data(contentsOf: file) == Data(picture.jpeg), "the new picture is kept on disk")

        // A newer keyframe within the refresh interval: the cached picture.
        tap.observe(.packet(keyframes[1]))
        guard case .live(let cached, let maxAge) = await thumbnails.thumbnail(channel: "demo") else {
            Issue.record("still live")
            return
        }
        #expect(cached.etag == picture.etag && cached.jpeg == picture.jpeg)
        #expect((1...3).contains(maxAge), "max-age is what is left of the interval: \(maxAge)")

        // After the interval: rendered again from the newer keyframe.
        try await Task.sleep(for: refresh + .milliseconds(100))
        guard case .live(let refreshed, _) = await thumbnails.thumbnail(channel: "demo") else {
            Issue.record("still live")
            return
        }
        #expect(refreshed.etag != picture.etag)
        #expect(refreshed.jpeg == (try Thumbnailer().jpeg(keyframe: keyframes[1], track: track)).bytes)

        // The session ends with a keyframe nobody asked for: it is kept, and served from disk.
        tap.observe(.packet(keyframes[3]))
        await thumbnails.end(tap)
        guard case .saved(let saved) = await thumbnails.thumbnail(channel: "demo") else {
            Issue.record("an ended channel answers with its saved picture")
            return
        }
        #expect(saved.jpeg == (try Thumbnailer().jpeg(keyframe: keyframes[3], track: track)).bytes)
        #expect(saved.etag == ChannelThumbnail.hash(saved.jpeg))

        for unknown in ["nobody", "../demo", ".hidden", ""] {
            guard case .none = await thumbnails.thumbnail(channel: unknown) else {
                Issue.record("\(unknown): no picture")
                continue
            }
        }
    }

    @Test func aCorruptKeyframeAnswersUnavailableUntilAGoodOneComes() async throws {
        let (track, keyframes) = try await ThumbnailerTests.keyframes(width: 320, height: 180, seconds: 1)
        let thumbnails = LiveThumbnails(
            options: .init(directory: nil, refreshInterval: .milliseconds(300)), logger: Logger(label: "test"))
        let tap = thumbnails.tap(channel: "broken")
        var corrupt = try #require(keyframes.first)
        corrupt.data = [0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF]
        tap.observe(.track(track))
        tap.observe(.packet(corrupt))
        for _ in 0..<2 {
            guard case .undecodable(let message, let retryAfter) = await thumbnails.thumbnail(channel: "broken") else {
                Issue.record("a corrupt keyframe: unavailable")
                return
            }
            #expect(message.contains("broken") && retryAfter >= 1, "\(message)")
        }
        try await Task.sleep(for: .milliseconds(400))
        tap.observe(.packet(keyframes[0]))
        guard case .live = await thumbnails.thumbnail(channel: "broken") else {
            Issue.record("a good keyframe after the interval gives a picture")
            return
        }
        await thumbnails.end(tap)
        guard case .none = await thumbnails.thumbnail(channel: "broken") else {
            Issue.record("ended, nothing kept without a folder")
            return
        }
    }
}
