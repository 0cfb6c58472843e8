import Media

/// Enhanced RTMP (veovera enhanced-rtmp v1/v2): video tags with the IsExHeader bit and audio tags
/// with SoundFormat 9 name their codec by FourCC.
extension FLVMediaPayload {
    enum VideoPacketType: UInt8 {
        case sequenceStart = 0, codedFrames, sequenceEnd, codedFramesX, metadata, mpeg2TSSequenceStart, multitrack, modEx
    }

    enum AudioPacketType: UInt8 {
        case sequenceStart = 0, codedFrames, sequenceEnd, multichannelConfig = 4, multitrack, modEx = 7
    }

    /// The codecs streamd takes over Enhanced RTMP, by FourCC (what `connect`'s `fourCcList` is
    /// answered with).
    public static let enhancedFourCCs = ["avc1", "hvc1", "av01", "vp09", "mp4a", "Opus"]

    static let damaged = "the encoder sent a damaged tag: restart it, and update it if this repeats"

    /// A video tag whose first byte has the IsExHeader bit: FrameType in bits 4-6, PacketType below.
    static func parseExVideo(first: UInt8, _ reader: ByteReader, size: Int) throws(RTMPProtocolError) -> FLVMediaPayload {
        var reader = reader
        let frameType = (first >> 4) & 0x07
        var rawType = first & 0x0F
        if rawType == VideoPacketType.modEx.rawValue { rawType = try skipModEx(&reader, kind: "video", size: size) }
        guard let packetType = VideoPacketType(rawValue: rawType) else {
            throw RTMPProtocolError(.flv, "unknown Enhanced RTMP video packet type \(rawType); \(damaged)")
        }
        // A command frame carries a one-byte command instead of a FourCC.
        if frameType == 5, packetType != .metadata { return .ignorable }
        switch packetType {
        case .multitrack:
            throw RTMPProtocolError(
                .flv,
                "Enhanced RTMP multitrack video is not supported; publish a single video track (turn multitrack video off in the encoder)")
        case .mpeg2TSSequenceStart:
            throw RTMPProtocolError(
                .flv,
                "Enhanced RTMP MPEG2TSSequenceStart is not supported; send the codec's configuration record as a SequenceStart (or publish over SRT)"
            )
        default:
            break
        }
        let fourCC = try Self.fourCC(&reader, kind: "video", size: size)
        let isKeyframe = frameType == 1
        switch fourCC {
        case "avc1":
            switch packetType {
            case .sequenceStart:
                return .avcSequenceHeader(try record("AVC sequence start", reader, AVCDecoderConfigurationRecord.init(parsing:)))
            case .codedFrames:
                let time = try compositionTime(&reader, fourCC: fourCC, size: size)
                return .avcFrame(isKeyframe: isKeyframe, compositionTime: time, data: reader.rest())
            case .codedFramesX:
                return .avcFrame(isKeyframe: isKeyframe, compositionTime: 0, data: reader.rest())
            case .sequenceEnd:
                return .avcEndOfSequence
            default:
                return .ignorable
            }
        case "hvc1", "av01", "vp09":
            let codec: Codec = fourCC == "hvc1" ? .hevc : fourCC == "av01" ? .av1 : .vp9
            switch packetType {
            case .sequenceStart where codec == .hevc:
                return .hevcSequenceStart(try record("HEVC sequence start", reader, HEVCDecoderConfigurationRecord.init(parsing:)))
            case .sequenceStart where codec == .av1:
                return .av1SequenceStart(try record("AV1 sequence start", reader, AV1CodecConfigurationRecord.init(parsing:)))
            case .sequenceStart:
                return .vp9SequenceStart(try record("VP9 sequence start", reader, VPCodecConfigurationRecord.init(parsing:)))
            case .codedFrames, .codedFramesX:
                // Only `hvc1` (and `avc1`) CodedFrames carry a composition time.
                let time = packetType == .codedFrames && codec == .hevc ? try compositionTime(&reader, fourCC: fourCC, size: size) : 0
                return .videoFrame(codec: codec, isKeyframe: isKeyframe, compositionTime: time, data: reader.rest())
            default:
                return .ignorable
            }
        default:
            throw RTMPProtocolError(.flv, "video codec \(described(fourCC)) is not supported; \(advice)")
        }
    }

    /// An audio tag with SoundFormat 9: AudioPacketType in the low four bits, then a FourCC.
    static func parseExAudio(first: UInt8, _ reader: ByteReader, size: Int) throws(RTMPProtocolError) -> FLVMediaPayload {
        var reader = reader
        var rawType = first & 0x0F
        if rawType == AudioPacketType.modEx.rawValue { rawType = try skipModEx(&reader, kind: "audio", size: size) }
        guard let packetType = AudioPacketType(rawValue: rawType) else {
            throw RTMPProtocolError(.flv, "unknown Enhanced RTMP audio packet type \(rawType); \(damaged)")
        }
        if packetType == .multitrack {
            throw RTMPProtocolError(
                .flv,
                "Enhanced RTMP multitrack audio is not supported; publish a single audio track (turn multitrack audio off in the encoder)")
        }
        let fourCC = try Self.fourCC(&reader, kind: "audio", size: size)
        switch fourCC {
        case "mp4a":
            switch packetType {
            case .sequenceStart:
                return .aacSequenceHeader(try record("AAC sequence start", reader, AudioSpecificConfig.init(parsing:)))
            case .codedFrames:
                return .aacFrame(reader.rest())
            default:
                return .ignorable
            }
        case "Opus":
            switch packetType {
            case .sequenceStart:
                return .opusSequenceStart(try record("Opus sequence start", reader, OpusHead.init(parsing:)))
            case .codedFrames:
                return .opusFrame(reader.rest())
            default:
                return .ignorable
            }
        default:
            throw RTMPProtocolError(.flv, "audio codec \(described(fourCC)) is not supported; \(advice)")
        }
    }

    /// Skips ModEx data (v2: a size, the data, then the modifier type and the real packet type,
    /// possibly repeated); streamd uses none of the modifiers (the nanosecond timestamp offset).
    private static func skipModEx(_ reader: inout ByteReader, kind: String, size: Int) throws(RTMPProtocolError) -> UInt8 {
        do {
            var packetType = AudioPacketType.modEx.rawValue
            while packetType == AudioPacketType.modEx.rawValue {
                var length = Int(try reader.u8()) + 1
                if length == 256 { length = Int(try reader.u16()) + 1 }
                try reader.skip(length)
                packetType = try reader.u8() & 0x0F
            }
            return packetType
        } catch {
            throw RTMPProtocolError(.flv, "Enhanced RTMP \(kind) tag of \(size) bytes ends inside its ModEx data; \(damaged)")
        }
    }

    /// The FourCC as text, or as `0x` and eight hex digits when a byte is not printable ASCII.
    private static func fourCC(_ reader: inout ByteReader, kind: String, size: Int) throws(RTMPProtocolError) -> String {
        guard let bytes = try? reader.slice(4) else {
            throw RTMPProtocolError(.flv, "Enhanced RTMP \(kind) tag of \(size) bytes ends before its FourCC; \(damaged)")
        }
        guard bytes.allSatisfy({ (0x20...0x7E).contains($0) }) else {
            return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func compositionTime(_ reader: inout ByteReader, fourCC: String, size: Int) throws(RTMPProtocolError) -> Int32 {
        guard let time = try? reader.i24() else {
            throw RTMPProtocolError(
                .flv, "Enhanced RTMP '\(fourCC)' CodedFrames tag of \(size) bytes ends before its composition time; \(damaged)")
        }
        return time
    }

    /// Parses the rest of the tag as a configuration record, turning its error into a refusal.
    private static func record<Record>(
        _ what: String, _ reader: ByteReader, _ parse: (ArraySlice<UInt8>) throws(MediaFormatError) -> Record
    ) throws(RTMPProtocolError) -> Record {
        do {
            return try parse(reader.unread)
        } catch {
            throw RTMPProtocolError(.flv, "\(what): \(error); check the encoder's settings for this codec, or publish H.264/AAC")
        }
    }

    private static func described(_ fourCC: String) -> String {
        fourCC.utf8.count == 4 ? "'\(fourCC)' (Enhanced RTMP FourCC)" : "with Enhanced RTMP FourCC \(fourCC)"
    }
}
