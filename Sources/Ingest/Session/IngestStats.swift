import Media

/// Ingest statistics over one sampling interval (`IngestStatsSampled`, `GET /v1/streams`).
public struct IngestStats: Sendable, Hashable, Codable {
    public var intervalSeconds: Double = 0
    /// Bits per second received on the socket (all RTMP bytes).
    public var receivedBitrate: Int = 0
    public var videoFrameRate: Double = 0
    public var audioFrameRate: Double = 0
    /// Last video DTS minus last audio DTS, in milliseconds.
    public var avDriftMilliseconds: Int64?
    /// Frames whose DTS went backwards on their track.
    public var lateFrames: Int = 0
    /// Frames dropped: before their track's sequence header, or with no consumer left.
    public var droppedFrames: Int = 0
    /// Media items waiting for the consumer.
    public var queueDepth: Int = 0
    /// Whether socket reads were paused because the consumer is slow.
    public var backpressured: Bool = false
    public var bytesReceivedTotal: UInt64 = 0
    /// RTMP: the bytes the kernel gathers before waking the reader (`SO_RCVLOWAT`, about one
    /// batch interval of the stream); nil while reads are not paced.
    public var readPacingBytes: Int?
    /// SRT's link statistics as libsrt measured them (RTT, loss, receive rate, link bandwidth,
    /// retransmissions, drops, receive buffer): the quality machine's SRT inputs. Nil for RTMP.
    public var srt: SRTLinkStatistics?

    // MARK: RTMP's congestion figure (TCP hides loss and RTT; see the Quality module's QualityInputs)

    /// RTMP: wall-clock time since the connection's first frame minus the media time carried since
    /// (newest DTS − first DTS), in ms. It grows while media arrives slower than real time (the
    /// encoder's send queue builds up because the link cannot carry the stream); its rise above the
    /// session's lowest value stands in for RTT. Constant offsets (up to one interval) cancel out.
    public var timestampLagMilliseconds: Int64?

    // MARK: The source's structure (ingest alerts; nil in events recorded before they were kept)

    /// The source's keyframe interval: the last whole keyframe-to-keyframe gap, or the time since
    /// the last keyframe when that is longer, so a GOP too long shows before it ends. Nil before the
    /// first video keyframe.
    public var keyframeIntervalMilliseconds: Int64?
    /// Video frames presented before a frame received earlier: B-frames (decode order is not
    /// presentation order). Nil when none.
    public var reorderedVideoFrames: Int?

    public init() {}
}

/// Counts what one connection received between samples; lives on the connection's event loop.
struct IngestStatsAccumulator: Sendable {
    private var bytesAtLastSample: UInt64 = 0
    private var videoFrames = 0
    private var audioFrames = 0
    private var late = 0
    private var dropped = 0
    private var lastVideoDTS: Int64?
    private var lastAudioDTS: Int64?
    private var firstDTS: Int64?
    private var newestDTS: Int64?
    /// Seconds sampled since the interval in which the first frame arrived.
    private var secondsSinceFirst = 0.0
    private var lastKeyframeDTS: Int64?
    private var lastKeyframeInterval: Int64?
    private var highestVideoPTS: Int64?
    private var reordered = 0

    /// One packet in the connection's order; times in milliseconds whatever the packet's timebase.
    mutating func record(_ packet: MediaPacket) {
        let dts = packet.timebase.convert(packet.dts, to: .milliseconds)
        let wentBack = packet.track == .video && lastVideoDTS.map { dts < $0 } == true
        record(track: packet.track, dts: dts)
        guard packet.track == .video else { return }
        let pts = packet.timebase.convert(packet.pts, to: .milliseconds)
        // A frame shown before one received earlier: reordering. A late frame (DTS backwards) is
        // counted as late instead, and restarts the comparison.
        if !wentBack, let highest = highestVideoPTS, pts < highest { reordered += 1 }
        highestVideoPTS = wentBack ? pts : Swift.max(highestVideoPTS ?? pts, pts)
        if packet.isKeyframe {
            if let last = lastKeyframeDTS, dts > last { lastKeyframeInterval = dts &- last }
            lastKeyframeDTS = dts
        }
    }

    mutating func record(track: TrackKindTag, dts: Int64) {
        if firstDTS == nil { firstDTS = dts }
        newestDTS = Swift.max(newestDTS ?? dts, dts)
        switch track {
        case .video:
            if let last = lastVideoDTS, dts < last { late += 1 }
            lastVideoDTS = dts
            videoFrames += 1
        case .audio:
            if let last = lastAudioDTS, dts < last { late += 1 }
            lastAudioDTS = dts
            audioFrames += 1
        }
    }

    mutating func recordDropped() { dropped += 1 }

    mutating func sample(totalBytes: UInt64, interval: Duration, queueDepth: Int, backpressured: Bool) -> IngestStats {
        let seconds = max(interval.inSeconds, 0.001)
        var stats = IngestStats()
        stats.intervalSeconds = seconds
        stats.receivedBitrate = Int(Double(totalBytes &- bytesAtLastSample) * 8 / seconds)
        stats.videoFrameRate = (Double(videoFrames) / seconds * 100).rounded() / 100
        stats.audioFrameRate = (Double(audioFrames) / seconds * 100).rounded() / 100
        if let video = lastVideoDTS, let audio = lastAudioDTS { stats.avDriftMilliseconds = video &- audio }
        stats.lateFrames = late
        stats.droppedFrames = dropped
        stats.queueDepth = queueDepth
        stats.backpressured = backpressured
        stats.bytesReceivedTotal = totalBytes
        if let first = firstDTS, let newest = newestDTS {
            secondsSinceFirst += seconds
            let wall = secondsSinceFirst * 1000
            if wall.isFinite, wall < 1e15 { stats.timestampLagMilliseconds = Int64(wall.rounded()) &- (newest &- first) }
        }
        if let keyframe = lastKeyframeDTS, let video = lastVideoDTS {
            stats.keyframeIntervalMilliseconds = Swift.max(lastKeyframeInterval ?? 0, Swift.max(0, video &- keyframe))
        }
        stats.reorderedVideoFrames = reordered == 0 ? nil : reordered
        bytesAtLastSample = totalBytes
        reordered = 0
        videoFrames = 0
        audioFrames = 0
        late = 0
        dropped = 0
        return stats
    }
}

typealias TrackKindTag = Media.TrackKind
