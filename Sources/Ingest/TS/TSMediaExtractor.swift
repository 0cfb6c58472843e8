import Media

/// MPEG-TS bytes in, the session's media items out: demuxes, converts H.264 Annex B to AVCC with
/// its `avcC`, strips ADTS from AAC with its AudioSpecificConfig, and says when the stream's
/// shape is known (for `StreamStarted`). Sans-I/O: the SRT connection feeds it.
public struct TSMediaExtractor: Sendable {
    public struct Output: Sendable {
        public var items: [MediaItem] = []
        /// Set once: every decodable track is known (or 2 s of media passed without one).
        public var ready: StreamDescription?
    }

    /// What went wrong without ending the stream, for statistics.
    public struct Counters: Sendable, Hashable {
        /// Video frames before the first keyframe or parameter sets, and unparseable audio.
        public var droppedFrames = 0
        public var malformedAudio = 0
    }

    public private(set) var demuxer: TSDemuxer
    public private(set) var counters = Counters()
    public private(set) var videoTrack: TrackInfo?
    public private(set) var audioTrack: TrackInfo?
    private var videoPID: UInt16?
    private var audioPID: UInt16?
    private var sps: [[UInt8]] = []
    private var pps: [[UInt8]] = []
    /// The first video frame waits for the second, so the track's frame rate is known.
    private var heldVideo: MediaPacket?
    private var sawKeyframe = false
    private var videoTrackSent = false
    private var firstTimestamp: Int64?
    private var announced = false

    public init(limits: TSDemuxer.Limits = TSDemuxer.Limits()) {
        demuxer = TSDemuxer(limits: limits)
    }

    public mutating func push(_ bytes: some Collection<UInt8>) throws(TSStreamError) -> Output {
        var output = Output()
        for event in try demuxer.push(bytes) {
            switch event {
            case .program(let streams):
                try program(streams)
            case .discontinuity:
                flushHeldVideo(into: &output)
                output.items.append(.discontinuity)
            case .pes(let pes):
                if pes.stream.pid == videoPID {
                    video(pes, into: &output)
                } else if pes.stream.pid == audioPID {
                    audio(pes, into: &output)
                }
                if let dts = pes.dts { checkReady(at: dts, into: &output) }
            }
        }
        return output
    }

    /// Picks the first H.264 and the first AAC stream; a program with neither is refused.
    private mutating func program(_ streams: [TSDemuxer.ElementaryStream]) throws(TSStreamError) {
        let video = streams.first { $0.kind == .h264 }
        let audio = streams.first { $0.kind == .aac }
        var unsupported: [String] = []
        for stream in streams {
            if case .unsupported(let name, let track) = stream.kind,
               (track == .video && video == nil) || (track == .audio && audio == nil)
            {
                unsupported.append(name)
            }
        }
        if !unsupported.isEmpty {
            throw TSStreamError(.unsupportedCodec, "\(unsupported.joined(separator: " and ")) is not supported; \(TSStreamError.advice)")
        }
        guard video != nil || audio != nil else {
            throw TSStreamError(.unsupportedCodec, "the MPEG-TS program has no audio or video stream; \(TSStreamError.advice)")
        }
        if video?.pid != videoPID {
            videoPID = video?.pid
            videoTrack = nil
            heldVideo = nil
            sawKeyframe = false
            videoTrackSent = false
        }
        if audio?.pid != audioPID {
            audioPID = audio?.pid
            audioTrack = nil
        }
    }

    private mutating func video(_ pes: TSDemuxer.PES, into output: inout Output) {
        guard let pts = pes.pts, let dts = pes.dts else {
            counters.droppedFrames += 1
            return
        }
        let unit = H264AnnexB.convert(pes.payload)
        if !unit.sequenceParameterSets.isEmpty { sps = unit.sequenceParameterSets }
        if !unit.pictureParameterSets.isEmpty { pps = unit.pictureParameterSets }
        guard !unit.avcc.isEmpty else { return }
        if let record = H264AnnexB.configuration(sps: sps, pps: pps), videoTrack?.configuration != .avc(record),
           videoTrack != nil || unit.isKeyframe
        {
            var track = TrackInfo(kind: .video, codec: .h264, configuration: .avc(record), timebase: .mpeg90kHz)
            if let first = sps.first, let parsed = try? H264SequenceParameterSet(parsing: first) {
                track.width = parsed.width
                track.height = parsed.height
            }
            track.frameRate = videoTrack?.frameRate
            videoTrack = track
            // The first track goes out with the first frame, once the frame rate is known.
            if videoTrackSent { output.items.append(.track(track)) }
        }
        guard var track = videoTrack, sawKeyframe || unit.isKeyframe else {
            counters.droppedFrames += 1
            return
        }
        sawKeyframe = true
        let packet = MediaPacket(track: .video, pts: pts, dts: dts, timebase: .mpeg90kHz, isKeyframe: unit.isKeyframe, data: unit.avcc)
        if videoTrackSent {
            output.items.append(.packet(packet))
            return
        }
        guard let held = heldVideo else {
            heldVideo = packet
            return
        }
        heldVideo = nil
        let delta = dts &- held.dts
        if delta > 0, delta < 90_000 { track.frameRate = (90_000.0 / Double(delta) * 100).rounded() / 100 }
        videoTrack = track
        videoTrackSent = true
        output.items.append(.track(track))
        output.items.append(.packet(held))
        output.items.append(.packet(packet))
    }

    private mutating func audio(_ pes: TSDemuxer.PES, into output: inout Output) {
        guard let pts = pes.pts else {
            counters.droppedFrames += 1
            return
        }
        var offset = pes.payload.startIndex
        var frames: Int64 = 0
        while offset < pes.payload.endIndex {
            let header: ADTSHeader
            do {
                header = try ADTSHeader(parsing: pes.payload[offset...])
            } catch {
                counters.malformedAudio += 1
                return
            }
            guard header.frameLength <= pes.payload.endIndex - offset else {
                counters.malformedAudio += 1
                return
            }
            let config = header.audioSpecificConfig
            if case .aac(let current) = audioTrack?.configuration, current == config {
            } else {
                let track = TrackInfo(
                    kind: .audio, codec: .aac, configuration: .aac(config), timebase: .mpeg90kHz,
                    sampleRate: config.sampleRate, channels: config.channelConfiguration)
                audioTrack = track
                output.items.append(.track(track))
            }
            // Frames after the first in one PES follow it by 1024 samples each.
            let time = pts &+ frames &* 1024 &* 90_000 / Int64(header.sampleRate)
            let data = Array(pes.payload[(offset + header.headerLength)..<(offset + header.frameLength)])
            output.items.append(.packet(MediaPacket(track: .audio, pts: time, dts: time, timebase: .mpeg90kHz, isKeyframe: true, data: data)))
            frames &+= 1
            offset += header.frameLength
        }
    }

    /// Sends a first frame that still waits for its successor (the stream broke or ended).
    public mutating func flushHeldVideo(into output: inout Output) {
        guard let held = heldVideo, let track = videoTrack else { return }
        heldVideo = nil
        videoTrackSent = true
        output.items.append(.track(track))
        output.items.append(.packet(held))
    }

    /// Ready once every selected stream has its track, or 2 s after the first timestamp.
    private mutating func checkReady(at dts: Int64, into output: inout Output) {
        guard !announced else { return }
        if firstTimestamp == nil { firstTimestamp = dts }
        let videoKnown = videoPID == nil || videoTrackSent
        let audioKnown = audioPID == nil || audioTrack != nil
        let waited = dts &- (firstTimestamp ?? dts) >= 2 * 90_000
        guard (videoKnown && audioKnown && (videoTrack != nil || audioTrack != nil)) || waited else { return }
        announced = true
        output.ready = streamDescription
    }

    public var streamDescription: StreamDescription {
        StreamDescription(videoTrack: videoTrack, audioTrack: audioTrack, encoder: nil)
    }
}
