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
    private var videoKind: TSDemuxer.StreamKind?
    private var audioKind: TSDemuxer.StreamKind?
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

    /// Picks the first H.264 (else HEVC) and the first AAC (else Opus) stream; a program with
    /// neither is refused. HEVC and Opus are for the transcoder: they never pass through.
    private mutating func program(_ streams: [TSDemuxer.ElementaryStream]) throws(TSStreamError) {
        let video = streams.first { $0.kind == .h264 } ?? streams.first { $0.kind == .hevc }
        let audio = streams.first { $0.kind == .aac } ?? streams.first { $0.kind == .opus }
        videoKind = video?.kind
        audioKind = audio?.kind
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
        if videoKind == .hevc {
            hevc(pes.payload, pts: pts, dts: dts, into: &output)
            return
        }
        let unit = AnnexB.h264AccessUnit(pes.payload)
        if !unit.sequenceParameterSets.isEmpty { sps = unit.sequenceParameterSets }
        if !unit.pictureParameterSets.isEmpty { pps = unit.pictureParameterSets }
        guard !unit.avcc.isEmpty else { return }
        if let record = AVCDecoderConfigurationRecord(sequenceParameterSets: sps, pictureParameterSets: pps),
            videoTrack?.configuration != .avc(record),
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
        deliver(
            MediaPacket(track: .video, pts: pts, dts: dts, timebase: .mpeg90kHz, isKeyframe: unit.isKeyframe, data: unit.avcc),
            into: &output)
    }

    /// From the first keyframe on; the first frame waits for the second, whose distance gives the
    /// track's frame rate, and the track goes out before both.
    private mutating func deliver(_ packet: MediaPacket, into output: inout Output) {
        guard var track = videoTrack, sawKeyframe || packet.isKeyframe else {
            counters.droppedFrames += 1
            return
        }
        sawKeyframe = true
        if videoTrackSent {
            output.items.append(.packet(packet))
            return
        }
        guard let held = heldVideo else {
            heldVideo = packet
            return
        }
        heldVideo = nil
        let delta = packet.dts &- held.dts
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
        if audioKind == .opus {
            opus(pes.payload, pts: pts, into: &output)
            return
        }
        var reader = ByteReader(pes.payload, structure: "ADTS")
        var frames: Int64 = 0
        while !reader.isAtEnd {
            let header: ADTSHeader
            do {
                header = try ADTSHeader(parsing: reader.unread)
            } catch {
                counters.malformedAudio += 1
                return
            }
            guard (try? reader.skip(header.headerLength)) != nil, let data = try? reader.bytes(header.frameLength - header.headerLength)
            else {
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
            output.items.append(
                .packet(MediaPacket(track: .audio, pts: time, dts: time, timebase: .mpeg90kHz, isKeyframe: true, data: data)))
            frames &+= 1
        }
    }

    /// HEVC stays Annex B with its parameter sets in band (libavcodec reads that form when the
    /// extradata is Annex B too): only the transcoder consumes it. A frame is a keyframe when it
    /// holds an IRAP picture (NAL types 16–21); frames before the first one with VPS/SPS/PPS are dropped.
    private mutating func hevc(_ payload: [UInt8], pts: Int64, dts: Int64, into output: inout Output) {
        var parameterSets: [UInt8] = []
        var isKeyframe = false
        for nal in AnnexB.nalUnits(payload) {
            guard let header = nal.first else { continue }
            let type = (header >> 1) & 0x3F
            if (32...34).contains(type) { parameterSets += [0, 0, 0, 1] + nal }
            if (16...21).contains(type) { isKeyframe = true }
        }
        if videoTrack == nil {
            guard isKeyframe, !parameterSets.isEmpty else {
                counters.droppedFrames += 1
                return
            }
            videoTrack = TrackInfo(kind: .video, codec: .hevc, configuration: .opaque(parameterSets), timebase: .mpeg90kHz)
        }
        deliver(MediaPacket(track: .video, pts: pts, dts: dts, timebase: .mpeg90kHz, isKeyframe: isKeyframe, data: payload), into: &output)
    }

    /// Opus access units, each behind a control header (0x7FE0 prefix, trim flags, size in 255s):
    /// the packets go out bare, timed by the samples their TOC bytes announce (RFC 6716 §3.1).
    private mutating func opus(_ payload: [UInt8], pts: Int64, into output: inout Output) {
        if audioTrack == nil {
            let track = TrackInfo(
                kind: .audio, codec: .opus, configuration: .opaque(Self.opusHead(channels: 2)), timebase: .mpeg90kHz,
                sampleRate: 48_000, channels: 2)
            audioTrack = track
            output.items.append(.track(track))
        }
        var reader = ByteReader(payload, structure: "Opus control header")
        var time = pts
        while reader.remaining >= 2 {
            let unit: [UInt8]?
            do {
                unit = try Self.opusAccessUnit(&reader)
            } catch {
                counters.malformedAudio += 1
                return
            }
            guard let packet = unit else { break }
            output.items.append(
                .packet(MediaPacket(track: .audio, pts: time, dts: time, timebase: .mpeg90kHz, isKeyframe: true, data: packet)))
            time &+= Int64(Self.opusSamples(packet)) * 90_000 / 48_000
        }
    }

    /// The next access unit behind its control header: an 11-bit 0x3FF prefix, start trim, end
    /// trim and control extension flags, the size in 255s, then the fields the flags announce.
    /// Nil when a control extension has no length byte (the PES ends there).
    static func opusAccessUnit(_ reader: inout ByteReader) throws(MediaFormatError) -> [UInt8]? {
        let prefix = try reader.u16()
        guard prefix & 0xFFE0 == 0x7FE0 else { throw MediaFormatError("Opus control header", "no 0x7FE0 prefix") }
        var size = 0
        while let byte = try? reader.u8() {
            size += Int(byte)
            if byte != 255 { break }
        }
        if prefix & 0x10 != 0 { try reader.skip(2) }  // start trim
        if prefix & 0x08 != 0 { try reader.skip(2) }  // end trim
        if prefix & 0x04 != 0 {  // control extension: a length, then that many bytes
            guard let length = try? reader.u8() else { return nil }
            try reader.skip(Int(length))
        }
        guard size > 0 else { throw MediaFormatError("Opus control header", "an access unit of 0 bytes") }
        return try reader.bytes(size)
    }

    /// Samples (at 48 kHz) in one Opus packet, from its TOC byte and frame count.
    static func opusSamples(_ packet: [UInt8]) -> Int {
        var reader = ByteReader(packet, structure: "Opus packet")
        guard let toc = try? reader.u8() else { return 0 }
        let config = Int(toc >> 3)
        let frameSamples: Int
        switch config {
        case 0...11: frameSamples = [480, 960, 1920, 2880][config % 4]  // SILK: 10, 20, 40, 60 ms
        case 12...15: frameSamples = [480, 960][config % 2]  // hybrid: 10, 20 ms
        default: frameSamples = [120, 240, 480, 960][config % 4]  // CELT: 2.5, 5, 10, 20 ms
        }
        let frames: Int
        switch toc & 0x03 {
        case 0: frames = 1
        case 1, 2: frames = 2
        default: frames = (try? reader.u8()).map { Int($0 & 0x3F) } ?? 0  // code 3: the frame count byte
        }
        return frameSamples * frames
    }

    /// The `OpusHead` extradata libavcodec's decoder expects: version 1, channel count, no pre-skip,
    /// 48 kHz, no gain, mapping family 0.
    static func opusHead(channels: UInt8) -> [UInt8] {
        Array("OpusHead".utf8) + [1, channels, 0, 0, 0x80, 0xBB, 0, 0, 0, 0, 0]
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
