import Foundation
import Media
import Testing

@testable import Ingest

/// GStreamer's `rtmp2sink` (a publisher with its own RTMP stack) against the server.
@Suite(.serialized) struct GStreamerPublishTests {
    static let gstLaunch = "/usr/bin/gst-launch-1.0"

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: gstLaunch),
            "needs gstreamer1.0-tools and -plugins-bad/-good/-ugly, gstreamer1.0-libav"))
    func rtmp2sinkPublishBecomesALiveSession() async throws {
        let (server, events, _, port) = try await RTMPServerIntegrationTests.makeServer()
        let pipeline = [
            "-q", "-e",
            "videotestsrc", "num-buffers=90", "is-live=true", "!", "video/x-raw,width=320,height=240,framerate=30/1",
            "!", "x264enc", "tune=zerolatency", "key-int-max=30", "speed-preset=ultrafast", "!", "h264parse", "!", "queue",
            "!", "flvmux", "name=mux", "streamable=true", "!", "rtmp2sink", "location=rtmp://127.0.0.1:\(port)/live/good-key",
            "audiotestsrc", "num-buffers=130", "is-live=true", "!", "audio/x-raw,rate=44100,channels=1",
            "!", "audioconvert", "!", "avenc_aac", "!", "aacparse", "!", "queue", "!", "mux.",
        ]
        let gst = try ToolProcess(Self.gstLaunch, pipeline)
        let session = try #require(await RTMPServerIntegrationTests.nextSession(server))
        let collector = Task { await collect(session) }
        let result = await gst.wait()
        #expect(result.status == 0, "\(result.stderr)")
        let items = await withTimeout(.seconds(10)) { await collector.value } ?? []
        let video = try #require(items.trackInfos.first { $0.kind == .video })
        #expect(video.width == 320 && video.height == 240)
        #expect(items.trackInfos.first { $0.kind == .audio }?.sampleRate == 44100)
        let videoPackets = items.packets.filter { $0.track == .video }
        #expect((85...90).contains(videoPackets.count), "\(videoPackets.count) video packets")
        #expect(videoPackets.first?.isKeyframe == true)
        // Starved of CPU at start-up, GStreamer's live pipeline sends a burst of frames with equal
        // FLV timestamps; the ingest passes timestamps through, so only "never backwards" holds.
        let backwards = zip(videoPackets, videoPackets.dropFirst()).filter { $0.dts > $1.dts }.map { "\($0.dts)→\($1.dts)" }
        #expect(backwards.isEmpty, "DTS not increasing: \(backwards); all: \(videoPackets.map(\.dts))")
        #expect(items.packets.filter { $0.track == .audio }.count > 100)
        #expect(await events.waitUntil { $0.contains { $0.event is StreamEnded } })
        #expect(await events.types.first == "StreamStarted")
        await server.shutdown()
    }
}
