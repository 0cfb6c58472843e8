import CFFmpeg
import Foundation
import Media

/// The standby slate a session plays while its encoders are away: a still picture (a PNG or JPEG
/// file, or a drawn "STANDBY" card) encoded as H.264 and silence as AAC, shaped like the session's
/// own tracks so the ladder keeps its renditions. One loop is one keyframe interval long: the
/// caller encodes it once per shape and repeats it.
public enum StandbySlate {
    public struct Clip: Sendable {
        public var tracks: [TrackInfo]
        public var packets: [MediaPacket]
        public var duration: Duration
    }

    /// Encodes one loop matching `video` (size and frame rate; 1280×720 at 30 fps without one)
    /// and `audio` (its sample rate and channels; none without one), `keyframeInterval` seconds long.
    public static func encode(
        video: TrackInfo?, audio: TrackInfo?, keyframeInterval: Double, image: URL? = nil
    ) throws(TranscodeError) -> Clip {
        LibavLog.quiet
        let width = max(16, (video?.width ?? 1280) & ~1)
        let height = max(16, (video?.height ?? 720) & ~1)
        let frameRate = min(max(video?.frameRate ?? 30, 1), 60)
        let frames = max(1, Int((frameRate * max(keyframeInterval, 0.5)).rounded()))
        let timebase = Timebase(1, 90_000)
        var packets: [MediaPacket] = []
        var tracks: [TrackInfo] = []
        do throws(LibavError) {
            let picture: Frame
            if let image {
                picture = try Self.picture(from: image, width: width, height: height)
            } else {
                picture = try Self.card(width: width, height: height)
            }
            let encoder = try VideoEncoder(
                VideoEncoder.Settings(
                    width: width, height: height, timebase: timebase, frameRate: frameRate, bitrate: 400_000, profile: "high",
                    preset: "veryfast", threads: 1, tuning: .lowLatency),
                label: "slate")
            for index in 0..<frames {
                let frame = try picture.clone()
                frame.pointer.pointee.pts = Int64((Double(index) * 90_000 / frameRate).rounded())
                try encoder.send(frame, forceIDR: index == 0)
                while let packet = try encoder.receive() { packets.append(packet) }
            }
            try encoder.send(nil, forceIDR: false)
            while let packet = try encoder.receive() { packets.append(packet) }
            tracks.append(
                TrackInfo(
                    kind: .video, codec: .h264, configuration: .avc(encoder.configuration), timebase: timebase, width: width,
                    height: height, frameRate: frameRate, bitrate: 400_000))
        } catch {
            throw .libav(error)
        }
        let duration = Duration.seconds(Double(frames) / frameRate)
        if let audio {
            do throws(LibavError) {
                let (track, silence) = try Self.silence(like: audio, duration: duration)
                tracks.append(track)
                packets += silence
            } catch {
                throw .libav(error)
            }
        }
        return Clip(tracks: tracks, packets: packets, duration: duration)
    }

    /// AAC-LC silence at `audio`'s sample rate and channel count, packets starting at 0 and ending
    /// before `duration`.
    static func silence(like audio: TrackInfo, duration: Duration) throws(LibavError) -> (TrackInfo, [MediaPacket]) {
        let rate = min(max(audio.sampleRate ?? 48_000, 8_000), 96_000)
        let channels = min(max(audio.channels ?? 2, 1), 2)
        let encoder = try AudioEncoder(sampleRate: rate, channels: channels, bitrate: 64_000)
        let samples = Int((duration.inSeconds * Double(rate)).rounded())
        var packets: [MediaPacket] = []
        var sent = 0
        // Priming: the encoder's first packets carry its delay; extra frames keep the loop full.
        while sent < samples + encoder.frameSize * 3 {
            let frame = try Frame()
            frame.pointer.pointee.format = AV_SAMPLE_FMT_FLTP.rawValue
            frame.pointer.pointee.sample_rate = Int32(rate)
            frame.pointer.pointee.nb_samples = Int32(encoder.frameSize)
            av_channel_layout_default(&frame.pointer.pointee.ch_layout, Int32(channels))
            try LibavError.check(av_frame_get_buffer(frame.pointer, 0), "av_frame_get_buffer(slate audio)")
            for channel in 0..<channels {
                if let plane = frame.pointer.pointee.extended_data[channel] {
                    memset(plane, 0, encoder.frameSize * MemoryLayout<Float>.size)
                }
            }
            frame.pointer.pointee.pts = Int64(sent)
            try encoder.send(frame)
            sent += encoder.frameSize
            while let packet = try encoder.receive() { packets.append(packet) }
        }
        try encoder.send(nil)
        while let packet = try encoder.receive() { packets.append(packet) }
        let kept = packets.filter { $0.dts >= 0 && $0.dts + Int64(encoder.frameSize) <= Int64(samples) }
        let track = TrackInfo(
            kind: .audio, codec: .aac, configuration: .aac(encoder.configuration), timebase: encoder.timebase, sampleRate: rate,
            channels: channels, bitrate: 64_000)
        return (track, kept)
    }

    /// A PNG or JPEG file decoded and scaled to the slate's size.
    static func picture(from url: URL, width: Int, height: Int) throws(LibavError) -> Frame {
        let bytes: [UInt8]
        do {
            bytes = [UInt8](try Data(contentsOf: url))
        } catch {
            throw LibavError("reading the slate image \(url.path): \(error)", code: streamd_averror(2))
        }
        let codec: String = bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) ? "png" : "mjpeg"
        let decoder: Decoder
        do {
            decoder = try Decoder(track: TrackInfo(kind: .video, codec: .other(codec), timebase: .milliseconds))
        } catch {
            throw LibavError("the slate image \(url.path) cannot be decoded as \(codec): \(error)", code: streamd_averror_invaliddata())
        }
        try decoder.send(MediaPacket(track: .video, pts: 0, dts: 0, timebase: .milliseconds, isKeyframe: true, data: bytes))
        try decoder.send(nil)
        guard let decoded = try decoder.receive() else {
            throw LibavError("the slate image \(url.path) holds no picture; use a PNG or JPEG file", code: streamd_averror_invaliddata())
        }
        return try Scaler(width: width, height: height).scale(decoded)
    }

    /// The default card: "STANDBY" in light gray on dark blue-gray.
    static func card(width: Int, height: Int) throws(LibavError) -> Frame {
        let frame = try Frame()
        frame.pointer.pointee.format = AV_PIX_FMT_YUV420P.rawValue
        frame.pointer.pointee.width = Int32(width)
        frame.pointer.pointee.height = Int32(height)
        try LibavError.check(av_frame_get_buffer(frame.pointer, 0), "av_frame_get_buffer(slate)")
        let f = frame.pointer.pointee
        guard let luma = f.data.0, let cb = f.data.1, let cr = f.data.2 else {
            throw LibavError("slate frame without planes", code: LibavError.outOfMemory)
        }
        for row in 0..<height { memset(luma + row * Int(f.linesize.0), 40, width) }
        for row in 0..<height / 2 {
            memset(cb + row * Int(f.linesize.1), 142, width / 2)
            memset(cr + row * Int(f.linesize.2), 120, width / 2)
        }
        let text = "STANDBY"
        let scale = max(1, width / (text.count * 6 * 2))
        let textWidth = text.count * 6 * scale
        let left = (width - textWidth) / 2
        let top = (height - 7 * scale) / 2
        for (index, character) in text.enumerated() {
            guard let rows = Self.glyphs[character] else { continue }
            for (y, bits) in rows.enumerated() {
                for x in 0..<5 where bits & (0x10 >> x) != 0 {
                    for dy in 0..<scale {
                        let row = top + y * scale + dy
                        let column = left + (index * 6 + x) * scale
                        guard row >= 0, row < height, column >= 0, column + scale <= width else { continue }
                        memset(luma + row * Int(f.linesize.0) + column, 200, scale)
                    }
                }
            }
        }
        return frame
    }

    /// 5×7 glyphs, one row per byte (high bit left).
    static let glyphs: [Character: [UInt8]] = [
        "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        "N": [0x11, 0x19, 0x15, 0x13, 0x11, 0x11, 0x11],
        "D": [0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E],
        "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        "Y": [0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04],
    ]
}
