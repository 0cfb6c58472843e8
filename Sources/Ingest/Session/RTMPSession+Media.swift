import Media

extension RTMPSession {
    mutating func data(_ values: [AMF0Value]) throws(RTMPProtocolError) -> [Action] {
        var values = values[...]
        if values.first?.string == "@setDataFrame" { values = values.dropFirst() }
        guard values.first?.string == "onMetaData", values.count > 1, let object = values[values.startIndex + 1].object else {
            return []
        }
        metadata = StreamMetadata(object)
        if let codec = metadata.videoCodec, codec != "avc1" {
            throw RTMPProtocolError(.flv, "video codec '\(codec)' is not supported; \(FLVMediaPayload.advice)")
        }
        if let codec = metadata.audioCodec, codec != "mp4a" {
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
                bitrate: metadata.videoDataRate.map { Int($0 * 1000) })
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
                bitrate: metadata.audioDataRate.map { Int($0 * 1000) })
            guard track != audioTrack else { return [] }
            audioTrack = track
            return [.media(.track(track))]
        case .avcFrame(let isKeyframe, let compositionTime, let data):
            // (pattern matches: `!= nil` copies the whole track description per frame)
            if case .none = videoTrack { return [] }
            let dts = videoClock.unwrap(message.timestamp)
            let packet = MediaPacket(
                track: .video, pts: dts + Int64(compositionTime), dts: dts, timebase: .milliseconds,
                isKeyframe: isKeyframe, data: data)
            return announced ? [.media(.packet(packet))] : announceIfReady(at: dts) + [.media(.packet(packet))]
        case .aacFrame(let data):
            if case .none = audioTrack { return [] }
            let dts = audioClock.unwrap(message.timestamp)
            let packet = MediaPacket(track: .audio, pts: dts, dts: dts, timebase: .milliseconds, isKeyframe: true, data: data)
            return announced ? [.media(.packet(packet))] : announceIfReady(at: dts) + [.media(.packet(packet))]
        case .avcEndOfSequence, .ignorable:
            return []
        }
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
        var offset = 0
        let bytes = message.payload
        var firstTimestamp: UInt32?
        while bytes.count - offset >= 11 {
            let type = bytes[offset]
            let size = Int(bytes[offset + 1]) << 16 | Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let timestamp =
                UInt32(bytes[offset + 7]) << 24 | UInt32(bytes[offset + 4]) << 16
                | UInt32(bytes[offset + 5]) << 8 | UInt32(bytes[offset + 6])
            guard size <= bytes.count - offset - 11 else {
                throw RTMPProtocolError(.flv, "aggregate message tag of \(size) bytes overruns the message")
            }
            let base = firstTimestamp ?? timestamp
            firstTimestamp = base
            if type == RTMPMessageType.audio.rawValue || type == RTMPMessageType.video.rawValue {
                let inner = RTMPMessage(
                    typeID: type, timestamp: message.timestamp &+ (timestamp &- base),
                    messageStreamID: message.messageStreamID, chunkStreamID: message.chunkStreamID,
                    payload: Array(bytes[(offset + 11)..<(offset + 11 + size)]))
                actions += try media(inner)
            }
            offset += 11 + size + 4
        }
        return actions
    }
}
