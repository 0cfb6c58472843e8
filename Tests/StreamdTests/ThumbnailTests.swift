import Foundation
import TestSupport
import Testing

/// `/live/CHANNEL/thumbnail.jpg` through `streamd serve`, with ffmpeg publishing over RTMP.
@Suite struct ThumbnailTests {
    static let ladder = """
        {"rungs":[{"name":"160p","height":160,"frameRate":30,"bitrate":200000,"profile":"main","priority":0}],
         "audio":{"bitrate":96000,"sampleRate":48000,"channels":2},"preset":"ultrafast","keyframeInterval":2,
         "maxPassthroughKeyframeInterval":2,"allowsPassthrough":true}
        """

    @Test(.timeLimit(.minutes(1))) func aLiveChannelHasAThumbnailThatOutlivesItsStream() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("thumbs")
        #expect(try await server.admin("PUT", "/v1/channels/thumbs/ladder", body: Self.ladder).status == 200)

        let unknown = try await server.get("/live/nobody/thumbnail.jpg")
        #expect(unknown.status == 404 && unknown.text.contains("no thumbnail"), "\(unknown.status) \(unknown.text)")
        #expect(unknown.headers["content-type"]?.hasPrefix("text/plain") == true)

        async let publishing = server.publish(key: key, seconds: 5, size: "854x480", gop: 30)
        let live = try await poll("the live thumbnail", seconds: 20) { () -> StreamdServer.Reply? in
            let reply = try await server.get("/live/thumbs/thumbnail.jpg")
            return reply.status == 200 ? reply : nil
        }
        #expect(live.headers["content-type"] == "image/jpeg")
        #expect(live.headers["x-streamd-live"] == "true")
        #expect(live.headers["cache-control"]?.hasPrefix("public, max-age=") == true, "\(live.headers)")
        #expect(live.headers["access-control-allow-origin"] == "*")
        let size = try #require(Self.jpegSize(Array(live.body)), "a whole JPEG")
        #expect(size == (640, 360), "854x480 scaled to 640 wide: \(size)")

        let again = try await server.get("/live/thumbs/thumbnail.jpg")
        #expect(again.status == 200 && again.body == live.body, "within 10 s: the same picture")
        let etag = try #require(live.headers["etag"])
        #expect(again.headers["etag"] == etag)
        #expect(try await server.get("/live/thumbs/thumbnail.jpg", headers: ["If-None-Match": etag]).status == 304)
        let head = try await server.get("/live/thumbs/thumbnail.jpg", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && head.headers["content-length"] == String(live.body.count))

        // The encoder stops; ending its session (rather than waiting out the reconnect grace) takes
        // the channel offline, and its last picture stays.
        let published = try await publishing
        #expect(published.status == 0, "\(published.output)")
        let streams = try await server.admin("GET", "/v1/streams")
        let list = try JSONSerialization.jsonObject(with: streams.body) as? [String: Any]
        let session = try #require((list?["streams"] as? [[String: Any]])?.first?["id"] as? String, "\(streams.text)")
        #expect(try await server.admin("DELETE", "/v1/streams/\(session)").status < 300)
        let offline = try await poll("the saved thumbnail", seconds: 10) { () -> StreamdServer.Reply? in
            let reply = try await server.get("/live/thumbs/thumbnail.jpg")
            return reply.headers["x-streamd-live"] == "false" ? reply : nil
        }
        #expect(offline.status == 200 && offline.headers["content-type"] == "image/jpeg")
        #expect(Self.jpegSize(Array(offline.body)).map { $0 == (640, 360) } == true)
        let file = URL(fileURLWithPath: server.dataDir).appendingPathComponent("thumbnails/thumbs.jpg")
        #expect(try Data(contentsOf: file) == offline.body, "served from the data folder")
        #expect(try await server.get("/live/thumbs/index.m3u8").status == 404, "the channel is offline")
    }

    /// Width and height from the frame header of a whole JPEG file (SOI … EOI); nil otherwise.
    static func jpegSize(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        guard bytes.starts(with: [0xFF, 0xD8]), bytes.suffix(2).elementsEqual([0xFF, 0xD9]) else { return nil }
        var index = 2
        while index + 9 <= bytes.count, bytes[index] == 0xFF {
            let marker = bytes[index + 1]
            if (0xC0...0xC2).contains(marker) {
                return (Int(bytes[index + 7]) << 8 | Int(bytes[index + 8]), Int(bytes[index + 5]) << 8 | Int(bytes[index + 6]))
            }
            index += 2 + (Int(bytes[index + 2]) << 8 | Int(bytes[index + 3]))
        }
        return nil
    }
}
