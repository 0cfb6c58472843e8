import Media

/// The body of an RTMP audio or video message (an FLV tag body), parsed.
public enum FLVMediaPayload: Sendable, Hashable {
    case avcSequenceHeader(AVCDecoderConfigurationRecord)
    /// AVCC NAL units; `compositionTime` is PTS − DTS in milliseconds.
    case avcFrame(isKeyframe: Bool, compositionTime: Int32, data: [UInt8])
    case avcEndOfSequence
    case aacSequenceHeader(AudioSpecificConfig)
    case aacFrame([UInt8])
    /// Enhanced RTMP sequence starts (`hvc1`, `av01`, `vp09`, `Opus`).
    case hevcSequenceStart(HEVCDecoderConfigurationRecord)
    case av1SequenceStart(AV1CodecConfigurationRecord)
    case vp9SequenceStart(VPCodecConfigurationRecord)
    case opusSequenceStart(OpusHead)
    /// An Enhanced RTMP coded frame of `codec` (HEVC as length-prefixed NAL units, AV1 as
    /// low-overhead OBUs, VP9 as one frame); `compositionTime` is PTS − DTS in milliseconds.
    case videoFrame(codec: Codec, isKeyframe: Bool, compositionTime: Int32, data: [UInt8])
    case opusFrame([UInt8])
    /// Video info/command frames and empty messages: nothing to pass on.
    case ignorable

    static let videoCodecNames: [UInt8: String] = [
        1: "JPEG", 2: "Sorenson H.263", 3: "Screen video", 4: "On2 VP6", 5: "On2 VP6 with alpha",
        6: "Screen video 2", 12: "HEVC with the legacy FLV id 12 (publish it over Enhanced RTMP as 'hvc1')",
        13: "AV1 with the legacy FLV id 13 (publish it over Enhanced RTMP as 'av01')",
    ]
    static let audioFormatNames: [UInt8: String] = [
        0: "linear PCM", 1: "ADPCM", 2: "MP3", 3: "linear PCM (little endian)", 4: "Nellymoser 16 kHz",
        5: "Nellymoser 8 kHz", 6: "Nellymoser", 7: "G.711 A-law", 8: "G.711 mu-law", 11: "Speex",
        13: "Opus with the legacy FLV id 13 (publish it over Enhanced RTMP as 'Opus')", 14: "MP3 8 kHz", 15: "device-specific sound",
    ]
    static let advice =
        "streamd accepts H.264 video and AAC audio, and over Enhanced RTMP also HEVC, AV1 and VP9 video and Opus audio: set your encoder to one of those"

    /// Parses a video message body (FLV VIDEODATA).
    public static func parseVideo(_ body: [UInt8]) throws(RTMPProtocolError) -> FLVMediaPayload {
        var reader = ByteReader(body, structure: "FLV video tag")
        guard let first = try? reader.u8() else { return .ignorable }
        if first & 0x80 != 0 { return try parseExVideo(first: first, reader, size: body.count) }
        let frameType = first >> 4
        let codecID = first & 0x0F
        if frameType == 5 { return .ignorable }
        guard codecID == 7 else {
            let name = videoCodecNames[codecID] ?? "codec id \(codecID)"
            throw RTMPProtocolError(.flv, "video codec \(name) is not supported; \(advice)")
        }
        // AVCPacketType, then the 24-bit signed composition time (PTS − DTS).
        guard let packetType = try? reader.u8(), let compositionTime = try? reader.i24() else {
            throw RTMPProtocolError(.flv, "AVC video tag of \(body.count) bytes is shorter than its 5-byte header")
        }
        switch packetType {
        case 0:
            do {
                return .avcSequenceHeader(try AVCDecoderConfigurationRecord(parsing: reader.restSlice()))
            } catch {
                throw RTMPProtocolError(.flv, "AVC sequence header: \(error)")
            }
        case 1:
            return .avcFrame(isKeyframe: frameType == 1, compositionTime: compositionTime, data: reader.rest())
        case 2:
            return .avcEndOfSequence
        default:
            throw RTMPProtocolError(.flv, "unknown AVC packet type \(packetType)")
        }
    }

    /// Parses an audio message body (FLV AUDIODATA).
    public static func parseAudio(_ body: [UInt8]) throws(RTMPProtocolError) -> FLVMediaPayload {
        var reader = ByteReader(body, structure: "FLV audio tag")
        guard let first = try? reader.u8() else { return .ignorable }
        let format = first >> 4
        if format == 9 { return try parseExAudio(first: first, reader, size: body.count) }
        guard format == 10 else {
            let name = audioFormatNames[format] ?? "format \(format)"
            throw RTMPProtocolError(.flv, "audio codec \(name) is not supported; \(advice)")
        }
        guard let packetType = try? reader.u8() else {
            throw RTMPProtocolError(.flv, "AAC audio tag of \(body.count) bytes is shorter than its 2-byte header")
        }
        switch packetType {
        case 0:
            do {
                return .aacSequenceHeader(try AudioSpecificConfig(parsing: reader.restSlice()))
            } catch {
                throw RTMPProtocolError(.flv, "AAC sequence header: \(error)")
            }
        case 1:
            return .aacFrame(reader.rest())
        default:
            throw RTMPProtocolError(.flv, "unknown AAC packet type \(packetType)")
        }
    }
}
