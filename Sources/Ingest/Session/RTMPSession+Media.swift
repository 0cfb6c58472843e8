import Media

extension RTMPSession {
    mutating func data(_ values: [AMF0Value]) throws(RTMPProtocolError) -> [Action] {
        var values = values[...]
        if values.first?.string == "@setDataFrame" { values = values.dropFirst() }
        guard values.first?.string == "onMetaData", values.count > 1, let object = values[values.startIndex + 1].object else {
            return []
        }
        metadata = StreamMetadata(object)
        if let codec = metadata.videoCodec, !["avc1", "hvc1", "av01", "vp09"].contains(codec) {
            throw RTMPProtocolError(.flv, "video codec '\(codec)' is not supported; \(FLVMediaPayload.advice)")
        }
        if let codec = metadata.audioCodec, !["mp4a", "Opus"].contains(codec) {
            throw RTMPProtocolError(.flv, "audio codec '\(codec)' is not supported; \(FLVMediaPayload.advice)")
        }
        return []
    }

    mutating func media(_ message: RTMPMessage) throws(RTMPProtocolError) -> [Action] {
        guard case .publishing = state else { return [] }
        let isVideo = message.type == .video
        let payload = isVideo ? try FLVMediaPayload.parseVideo(message.payload) : try FLVMediaPayload.parseAudio(message.payload)
        switch payload {
        case .avcSequenceHeader(let record):
            var track = TrackInfo(
                kind: .video, codec: .h264, configuration: .avc(record), timebase: .milliseconds,
                width: metadata.width, height: metadata.height, frameRate: metadata.frameRate,
                bitrate: metadata.videoDataRate.flatMap(Self.bitrate(kilobits:)))
            if let sps = record.sequenceParameterSets.first, let parsed = try? H264SequenceParameterSet(parsing: sps) {
                track.width = parsed.width
                track.height = parsed.height
            }
            guard track != videoTrack else { return [] }
            videoTrack = track
            return [.media(.track(track))]
        case .aacSequenceHeader(let config):
            let track = TrackInfo(
                kind: .audio, codec: .aac, configuration: .aac(config), timebase: .milliseconds,
                sampleRate: config.sampleRate, channels: config.channelConfiguration,
                bitrate: metadata.audioDataRate.flatMap(Self.bitrate(kilobits:)))
            guard track != audioTrack else { return [] }
            audioTrack = track
            return [.media(.track(track))]
        case .hevcSequenceStart(let record):
            return videoSequenceStart(.hevc, extradata: record.bytes)
        case .av1SequenceStart(let record):
            return videoSequenceStart(.av1, extradata: record.bytes)
        case .vp9SequenceStart:
            return videoSequenceStart(.vp9, extradata: [])
        case .opusSequenceStart(let head):
            // Opus decodes at 48 kHz whatever rate the encoder was fed.
            let track = TrackInfo(
                kind: .audio, codec: .opus, configuration: .opaque(head.bytes), timebase: .milliseconds,
                sampleRate: 48_000, channels: head.channelCount, bitrate: metadata.audioDataRate.flatMap(Self.bitrate(kilobits:)))
            guard track != audioTrack else { return [] }
            audioTrack = track
            return [.media(.track(track))]
        case .avcFrame(let isKeyframe, let compositionTime, let data),
            .videoFrame(_, let isKeyframe, let compositionTime, let data):
            // (pattern matches: `!= nil` copies the whole track description per frame)
            if case .none = videoTrack { return [] }
            let dts = videoClock.unwrap(message.timestamp)
            let packet = MediaPacket(
                track: .video, pts: dts + Int64(compositionTime), dts: dts, timebase: .milliseconds,
                isKeyframe: isKeyframe, data: data)
            return announced ? [.media(.packet(packet))] : announceIfReady(at: dts) + [.media(.packet(packet))]
        case .aacFrame(let data), .opusFrame(let data):
            if case .none = audioTrack { return [] }
            let dts = audioClock.unwrap(message.timestamp)
            let packet = MediaPacket(track: .audio, pts: dts, dts: dts, timebase: .milliseconds, isKeyframe: true, data: data)
            return announced ? [.media(.packet(packet))] : announceIfReady(at: dts) + [.media(.packet(packet))]
        case .avcEndOfSequence, .ignorable:
            return []
        }
    }

    /// An Enhanced RTMP video track: its size comes from onMetaData when the encoder sent it, else
    /// the transcoder learns it from the first decoded frame.
    private mutating func videoSequenceStart(_ codec: Codec, extradata: [UInt8]) -> [Action] {
        let track = TrackInfo(
            kind: .video, codec: codec, configuration: .opaque(extradata), timebase: .milliseconds,
            width: metadata.width, height: metadata.height, frameRate: metadata.frameRate,
            bitrate: metadata.videoDataRate.flatMap(Self.bitrate(kilobits:)))
        guard track != videoTrack else { return [] }
        videoTrack = track
        return [.media(.track(track))]
    }

    /// Once every track the metadata declares has its sequence header (or 2 s of media passed).
    private mutating func announceIfReady(at timestamp: Int64) -> [Action] {
        guard !announced else { return [] }
        if firstCodedTimestamp == nil { firstCodedTimestamp = timestamp }
        let waitingForVideo = metadata.videoCodec != nil && videoTrack == nil
        let waitingForAudio = metadata.audioCodec != nil && audioTrack == nil
        let waited = timestamp - (firstCodedTimestamp ?? timestamp) >= 2000
        guard (!waitingForVideo && !waitingForAudio) || waited else { return [] }
        announced = true
        return [.ready(streamDescription)]
    }

    /// What is known of the stream so far.
    public var streamDescription: StreamDescription {
        StreamDescription(videoTrack: videoTrack, audioTrack: audioTrack, encoder: metadata.encoder)
    }

    /// Splits an aggregate message (a run of FLV tags) into audio and video messages.
    mutating func aggregate(_ message: RTMPMessage) throws(RTMPProtocolError) -> [Action] {
        var actions: [Action] = []
        var reader = ByteReader(message.payload, structure: "aggregate message")
        var firstTimestamp: UInt32?
        // Each tag: type (8), size (24), timestamp (24 + 8 high bits), stream ID (24), body, back pointer (32).
        while reader.remaining >= 11 {
            let header: (type: UInt8, size: Int, timestamp: UInt32)
            do {
                let type = try reader.u8()
                let size = Int(try reader.u24())
                let low = try reader.u24()
                let high = UInt32(try reader.u8())
                try reader.skip(3)
                header = (type, size, high << 24 | low)
            } catch {
                throw RTMPProtocolError(.flv, "aggregate message tag header: \(error.reason)")  // not reached: 11 bytes are there
            }
            guard let body = try? reader.bytes(header.size) else {
                throw RTMPProtocolError(.flv, "aggregate message tag of \(header.size) bytes overruns the message")
            }
            _ = reader.slice(atMost: 4)  // the back pointer; the last tag's may be missing
            let base = firstTimestamp ?? header.timestamp
            firstTimestamp = base
            if header.type == RTMPMessageType.audio.rawValue || header.type == RTMPMessageType.video.rawValue {
                let inner = RTMPMessage(
                    typeID: header.type, timestamp: message.timestamp &+ (header.timestamp &- base),
                    messageStreamID: message.messageStreamID, chunkStreamID: message.chunkStreamID, payload: body)
                actions += try media(inner)
            }
        }
        return actions
    }
}

extension RTMPSession {
    /// Bits per second from onMetaData's kbit/s, a publisher's Double: nil when not a sane positive
    /// figure (ops/fuzz's rtmp-chunk target trapped converting 1e300 to Int).
    static func bitrate(kilobits: Double) -> Int? {
        kilobits > 0 && kilobits < 1e9 ? Int((kilobits * 1000).rounded()) : nil
    }
}
