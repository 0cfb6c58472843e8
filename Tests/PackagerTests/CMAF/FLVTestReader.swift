import Media

@testable import Packager

/// Just enough FLV to get H.264/AAC packets out of a file the real ffmpeg wrote (test side only;
/// the product's FLV demuxer lives in Ingest, which the packager must not import).
struct FLVTestReader {
    var videoTrack: TrackInfo?
    var audioTrack: TrackInfo?
    var video: [MediaPacket] = []
    var audio: [MediaPacket] = []

    init(_ bytes: [UInt8], frameRate: Double) throws {
        var reader = ByteReader(bytes, structure: "FLV")
        guard try reader.bytes(3) == Array("FLV".utf8) else { throw MediaFormatError("FLV", "no signature") }
        try reader.skip(2)
        let headerSize = Int(try reader.u32())
        try reader.skip(headerSize - 9 + 4)
        while reader.remaining >= 11 {
            let type = try reader.u8() & 0x1F
            let size = Int(try reader.u24())
            let low = try reader.u24()
            let high = UInt32(try reader.u8())
            try reader.skip(3)
            let body = try reader.bytes(size)
            try reader.skip(4)
            let dts = Int64(high << 24 | low)
            guard body.count >= 2 else { continue }
            switch type {
            case 9 where body[0] & 0x0F == 7 && body.count >= 5:
                let raw = UInt32(body[2]) << 16 | UInt32(body[3]) << 8 | UInt32(body[4])
                let composition = Int64(Int32(bitPattern: raw << 8) >> 8)
                let payload = Array(body[5...])
                if body[1] == 0 {
                    let record = try AVCDecoderConfigurationRecord(parsing: payload)
                    videoTrack = TrackInfo(
                        kind: .video, codec: .h264, configuration: .avc(record), timebase: .milliseconds, frameRate: frameRate)
                } else if body[1] == 1 {
                    video.append(
                        MediaPacket(
                            track: .video, pts: dts + composition, dts: dts, timebase: .milliseconds, isKeyframe: body[0] >> 4 == 1,
                            data: payload))
                }
            case 8 where body[0] >> 4 == 10:
                let payload = Array(body[2...])
                if body[1] == 0 {
                    let config = try AudioSpecificConfig(parsing: payload)
                    audioTrack = TrackInfo(
                        kind: .audio, codec: .aac, configuration: .aac(config), timebase: .milliseconds, sampleRate: config.sampleRate,
                        channels: config.channelConfiguration)
                } else {
                    audio.append(MediaPacket(track: .audio, pts: dts, dts: dts, timebase: .milliseconds, isKeyframe: true, data: payload))
                }
            default:
                continue
            }
        }
    }
}
