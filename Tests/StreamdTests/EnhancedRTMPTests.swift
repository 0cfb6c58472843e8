import EventStore
import Foundation
import Media
import TestSupport
import Testing
import TranscodeFiles

/// HEVC and AV1 published over Enhanced RTMP (with Opus and AAC) reach viewers as the channel's
/// H.264/AAC ladder; a damaged ex header ends the publish with the reason sent to the encoder.
@Suite(.serialized) struct EnhancedRTMPTests {
    /// Two encoded rungs and passthrough allowed: a non-H.264 source must never pass through.
    static let ladder = """
        {"rungs":[{"name":"240p","height":240,"frameRate":30,"bitrate":400000,"profile":"main","priority":0},
                  {"name":"160p","height":160,"frameRate":24,"bitrate":200000,"profile":"main","priority":1}],
         "audio":{"bitrate":96000,"sampleRate":48000,"channels":2},"preset":"ultrafast","keyframeInterval":2,
         "maxPassthroughKeyframeInterval":2,"allowsPassthrough":true}
        """

    /// A tag as an FLV tag body, with its decode time in milliseconds.
    struct Tag {
        var video: Bool
        var time: Int64
        var body: [UInt8]
    }

    /// Encodes 3 s of 320x240 test picture and tone with ffmpeg into MP4, demuxes it with libavformat
    /// and packages each packet as an Enhanced RTMP tag (sequence starts first).
    static func tags(
        video: [String], audio: [String], videoFourCC: String, audioFourCC: String
    ) async throws -> (
        starts: [Tag], frames: [Tag], period: Int64
    ) {
        let path = NSTemporaryDirectory() + "ertmp-\(UUID().uuidString.prefix(8)).mp4"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let made = try await Subprocess.runDetached(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "3", "-pix_fmt", "yuv420p",
            ] + video + audio + ["-ac", "2", path])
        guard made.status == 0 else { throw TestSupportError("ffmpeg: \(made.output)") }
        var starts: [Tag] = []
        var frames: [Tag] = []
        let video = Array(videoFourCC.utf8)
        let audio = Array(audioFourCC.utf8)
        func milliseconds(_ value: Int64, _ timebase: Timebase) -> Int64 { Int64((timebase.seconds(value) * 1000).rounded()) + 200 }
        for try await item in FileSource(path: path) {
            switch item {
            case .track(let track):
                let extradata: [UInt8] =
                    switch track.configuration {
                    case .aac(let config): config.bytes
                    case .opaque(let bytes): bytes
                    default: []
                    }
                starts.append(
                    track.kind == .video
                        ? Tag(video: true, time: 0, body: [0x90] + video + extradata)
                        : Tag(video: false, time: 0, body: [0x90] + audio + extradata))
            case .packet(let packet):
                let dts = milliseconds(packet.dts, packet.timebase)
                if packet.track == .video {
                    let composition = milliseconds(packet.pts, packet.timebase) - dts
                    let frameType: UInt8 = packet.isKeyframe ? 0x10 : 0x20
                    // hvc1 CodedFrames carry the composition time; av01 uses CodedFramesX.
                    let body =
                        videoFourCC == "hvc1"
                        ? [0x80 | frameType | 1] + video
                            + Array(EnhancedRTMPPublisher.u32(UInt32(bitPattern: Int32(composition))).dropFirst())
                            + packet.data
                        : [0x80 | frameType | 3] + video + packet.data
                    frames.append(Tag(video: true, time: dts, body: body))
                } else {
                    frames.append(Tag(video: false, time: dts, body: [0x91] + audio + packet.data))
                }
            case .discontinuity:
                break
            }
        }
        frames.sort { $0.time < $1.time }
        let period = ((frames.last?.time ?? 0) / 100 + 1) * 100
        return (starts, frames, period)
    }

    /// Publishes the tags `loops` times over, paced by their timestamps against the wall clock.
    static func publish(
        port: Int, key: String, metadata: [(String, EnhancedRTMPPublisher.AMF)], tags: (starts: [Tag], frames: [Tag], period: Int64),
        loops: Int
    )
        async throws -> String
    {
        try await onThread {
            let publisher = try EnhancedRTMPPublisher(port: port)
            try publisher.publish(port: port, key: key, fourCCs: ["hvc1", "av01", "Opus", "mp4a"])
            guard publisher.receivedText.contains("fourCcList") else { throw TestSupportError("connect's _result has no fourCcList") }
            try publisher.metadata(metadata)
            for tag in tags.starts { try tag.video ? publisher.video(tag.body, timestamp: 0) : publisher.audio(tag.body, timestamp: 0) }
            let start = Date()
            for loop in 0..<loops {
                for tag in tags.frames {
                    let time = tag.time + Int64(loop) * tags.period
                    let wait = Double(time) / 1000 - Date().timeIntervalSince(start)
                    if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
                    let timestamp = UInt32(clamping: time)
                    try tag.video ? publisher.video(tag.body, timestamp: timestamp) : publisher.audio(tag.body, timestamp: timestamp)
                }
                publisher.read()  // what the server said meanwhile (acknowledgements)
            }
            try publisher.command("deleteStream", 4, .null, .number(1))
            return publisher.receivedText
        }
    }

    /// Fetches a rendition's init segment and first whole segment and ffprobes them: codec, size,
    /// and how many frames decode.
    static func probe(_ server: StreamdServer, channel: String, rendition: String) async throws -> String {
        let playlist = try await poll("\(rendition)'s first segment", seconds: 30) { () -> MediaPlaylist? in
            let reply = try await server.get("/live/\(channel)/\(rendition)/index.m3u8")
            guard reply.status == 200 else { return nil }
            let parsed = try MediaPlaylist(reply.text)
            return parsed.segments.isEmpty || parsed.map == nil ? nil : parsed
        }
        guard let map = playlist.map, let segment = playlist.segments.first else { return "" }
        let initSegment = try await server.get("/live/\(channel)/\(rendition)/\(map)").body
        let media = try await server.get("/live/\(channel)/\(rendition)/\(segment.uri)").body
        let file = NSTemporaryDirectory() + "ertmp-\(UUID().uuidString.prefix(8)).mp4"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try (initSegment + media).write(to: URL(fileURLWithPath: file))
        let probe = try await Subprocess.runDetached(
            "/usr/bin/ffprobe",
            ["-v", "error", "-count_frames", "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of", "csv=p=0", file])
        return probe.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func playsAsTheH264Ladder(
        channel: String, videoFourCC: String, audioFourCC: String, video: [String], audio: [String], metadataCodecs: (Double, Double)
    ) async throws {
        let tags = try await Self.tags(video: video, audio: audio, videoFourCC: videoFourCC, audioFourCC: audioFourCC)
        #expect(tags.starts.count == 2 && tags.frames.count > 200, "\(tags.starts.count) sequence starts, \(tags.frames.count) frames")
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel(channel)
        let configured = try await server.admin("PUT", "/v1/channels/\(channel)/ladder", body: Self.ladder)
        #expect(configured.status == 200, "\(configured.text)")

        let metadata: [(String, EnhancedRTMPPublisher.AMF)] = [
            ("width", .number(320)), ("height", .number(240)), ("framerate", .number(30)),
            ("videocodecid", .number(metadataCodecs.0)), ("audiocodecid", .number(metadataCodecs.1)),
        ]
        async let published = Self.publish(port: server.rtmp, key: key, metadata: metadata, tags: tags, loops: 5)

        let multivariantText = try await poll("the multivariant playlist", seconds: 40) { () -> String? in
            let reply = try await server.get("/live/\(channel)/index.m3u8")
            return reply.status == 200 ? reply.text : nil
        }
        let multivariant = try MultivariantPlaylist(multivariantText)
        // No passthrough ("source") of an HEVC or AV1 source: every video rendition is encoded H.264.
        #expect(Set(multivariant.renditionNames) == ["240p", "160p", "audio"], "\(multivariantText)")
        #expect(
            !multivariantText.contains("hvc1") && !multivariantText.contains("av01") && !multivariantText.contains("Opus"),
            "\(multivariantText)")

        let top = try await Self.probe(server, channel: channel, rendition: "240p")
        let fields = top.split(separator: ",").map(String.init)
        #expect(fields.count == 4 && fields[0] == "h264" && fields[1] == "320" && fields[2] == "240", "\(top)")
        #expect((Int(fields.last ?? "") ?? 0) >= 30, "the 240p segment decodes to \(fields.last ?? "no") frames: \(top)")
        let sound = try await Self.probe(server, channel: channel, rendition: "audio")
        #expect(sound.hasPrefix("aac"), "\(sound)")

        let replies = try await published
        #expect(!replies.contains("NetStream.Publish.Failed"), "\(replies.suffix(600))")
        let started = try await server.admin("GET", "/v1/events?type=StreamStarted").text
        #expect(started.contains(channel == "hevc" ? "hevc" : "av1"), "\(started.prefix(1_000))")
    }

    @Test(.timeLimit(.minutes(4))) func hevcAndOpusPlayAsTheH264Ladder() async throws {
        try await playsAsTheH264Ladder(
            channel: "hevc", videoFourCC: "hvc1", audioFourCC: "Opus",
            video: [
                "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1",
                "-x265-params", "keyint=30:min-keyint=30:no-open-gop=1:bframes=2:log-level=error",
            ],
            audio: ["-c:a", "libopus", "-b:a", "64k"], metadataCodecs: (0x6876_6331, 0x4F70_7573))
    }

    @Test(.timeLimit(.minutes(4))) func av1AndAACPlayAsTheH264Ladder() async throws {
        try await playsAsTheH264Ladder(
            channel: "aone", videoFourCC: "av01", audioFourCC: "mp4a",
            video: ["-c:v", "libaom-av1", "-cpu-used", "8", "-g", "30", "-keyint_min", "30", "-b:v", "300k"],
            audio: ["-c:a", "aac", "-b:a", "96k"], metadataCodecs: (0x6176_3031, 10))
    }

    @Test(.timeLimit(.minutes(3))) func aTruncatedExHeaderEndsThePublishAndTheEncoderIsToldWhy() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let key = try await server.createChannel("broken")
        let port = server.rtmp
        let replies = try await onThread { () -> String in
            let publisher = try EnhancedRTMPPublisher(port: port)
            try publisher.publish(port: port, key: key, fourCCs: ["hvc1"])
            // IsExHeader, keyframe, SequenceStart, and then only half a FourCC.
            try publisher.video([0x90, 0x68, 0x76], timestamp: 0)
            try? publisher.waitFor("NetStream.Publish.Failed")
            let deadline = Date().addingTimeInterval(5)
            while publisher.read(), Date() < deadline {}
            return publisher.receivedText
        }
        #expect(replies.contains("NetStream.Publish.Failed"), "\(replies.suffix(600))")
        #expect(replies.contains("ends before its FourCC") && replies.contains("restart it"), "\(replies.suffix(600))")
    }
}
