import Ingest
import Transcode

/// How one session's ingest statistics become the quality machine's three figures.
///
/// **SRT** measures them (`IngestStats.srt`, libsrt's `srt_bstats` over the interval):
/// - *loss* = packets libsrt found missing / (received + missing), whether retransmission later
///   recovered them or not: loss the link had, before SRT hid it (drops, the unrecovered part, are
///   in the statistics too, but they come only after the latency budget is spent);
/// - *RTT* = libsrt's smoothed round-trip time;
/// - *bandwidth* = while the link is congested (the rule below), libsrt's receive rate: what the
///   link demonstrably carries; otherwise libsrt's link-capacity estimate (receiver-side
///   packet-pair probing), never below what arrived, or unknown before libsrt has one. The estimate
///   alone cannot be trusted downwards or upwards under congestion: pairs slip through a shaper's
///   burst, and libsrt kept estimating far above a shaper's rate (docs/benchmarks.md#srt-capacity-estimate).
///
/// **RTMP** runs over TCP, which hides loss and RTT, so they are derived:
/// - *loss* = frames that should have come but did not, plus frames that came damaged:
///   `max(0, 1 − received fps / reference fps) + (late + dropped) / (frames + dropped)`, capped at 1.
///   The reference is the frame rate the encoder declared in its metadata, lowered to the highest
///   rate actually seen (a camera declaring 60 but sending 30 is not 50 % loss); without a declared
///   rate only damaged frames count. An encoder that cannot send drops frames (OBS does), which is
///   what this sees.
/// - *RTT* = queueing delay: the sample's `timestampLagMilliseconds` (wall clock minus media time)
///   minus the lowest lag of the connection. It rises while the encoder's send queue grows because
///   the link cannot carry the stream (or because this server reads slowly: backpressure shows up
///   the same way, and shedding renditions then helps too). A reconnect or timestamps going
///   backwards (late frames) restart the baseline. A/V drift is not used: it is the encoder's
///   muxing, not the network.
///
/// **Bandwidth** for RTMP is what a sender that is held back demonstrates: the received rate,
/// but only while the sample shows congestion (loss ≥ 1 %, RTT or queueing delay ≥ 250 ms, or less
/// than half the bitrate the encoder declared arriving). Otherwise the link carries everything the
/// encoder sends; the rate is then the encoder's choice, not the link's limit, and says nothing
/// about spare capacity: the figure is unknown (nil), so a healthy 2.5 Mbps 720p stream is not
/// pushed down by HIGH's 5 Mbps floor, while a 6 Mbps stream squeezed through 2 Mbps is.
struct QualityInputs: Sendable, Hashable, Codable {
    var declaredBitrate: Double?
    var declaredFrameRate: Double?
    var hasVideo: Bool
    /// The highest video frame rate seen (for the loss reference).
    var peakFrameRate: Double = 0
    /// The connection's lowest timestamp lag, ms.
    var lagBaseline: Int64?

    static let congestedLoss = 0.01
    static let congestedDelayMilliseconds = 250.0
    static let starvedShare = 0.5

    init(started: StreamStarted) {
        let bitrate = (started.video?.bitrate ?? 0) + (started.audio?.bitrate ?? 0)
        declaredBitrate = bitrate > 0 ? Double(bitrate) : nil
        if let rate = started.video?.frameRate, rate.isFinite, rate > 0, rate <= 1_000 { declaredFrameRate = rate }
        hasVideo = started.video != nil
    }

    /// A new connection continues the session: its lag has a new origin.
    mutating func reconnected() { lagBaseline = nil }

    mutating func figures(for stats: IngestStats) -> QualityFigures {
        func finite(_ value: Double) -> Double { value.isFinite && value >= 0 ? value : 0 }
        let interval = finite(stats.intervalSeconds)
        let videoRate = finite(stats.videoFrameRate)
        peakFrameRate = Swift.max(peakFrameRate, Swift.min(videoRate, 1_000))

        // Damaged frames: late (DTS backwards) and dropped ones, against all frames of the interval.
        let frames = (videoRate + finite(stats.audioFrameRate)) * interval
        let damagedCount = Double(Swift.max(0, stats.lateFrames)) + Double(Swift.max(0, stats.droppedFrames))
        let damaged = damagedCount > 0 ? damagedCount / Swift.max(frames + Double(Swift.max(0, stats.droppedFrames)), 1) : 0
        var loss: Double
        if let srt = stats.srt {
            let received = Double(Swift.max(0, srt.packetsReceived))
            let lost = Double(Swift.max(0, srt.packetsLost))
            loss = received + lost > 0 ? lost / (received + lost) : 0
        } else {
            loss = damaged
            if hasVideo, let declared = declaredFrameRate, peakFrameRate > 0 {
                let reference = Swift.min(declared, peakFrameRate)
                loss += Swift.max(0, 1 - videoRate / reference)
            }
        }
        loss = Swift.min(1, Swift.max(0, loss))

        var rtt: Double?
        if let srt = stats.srt {
            rtt = finite(srt.rttMilliseconds)
        } else if let lag = stats.timestampLagMilliseconds {
            if stats.lateFrames > 0 { lagBaseline = nil }
            let baseline = Swift.min(lagBaseline ?? lag, lag)
            lagBaseline = baseline
            rtt = Double(lag &- baseline)
        }

        let rate = stats.srt.map { finite($0.receiveRateMbps) * 1_000_000 } ?? Double(Swift.max(0, stats.receivedBitrate))
        var congested = loss >= Self.congestedLoss || (rtt ?? 0) >= Self.congestedDelayMilliseconds
        if let declared = declaredBitrate, rate < declared * Self.starvedShare { congested = true }
        if !congested, let srt = stats.srt, finite(srt.bandwidthMbps) > 0 {
            return QualityFigures(lossRate: loss, bandwidth: Swift.max(finite(srt.bandwidthMbps) * 1_000_000, rate), rttMilliseconds: rtt)
        }
        return QualityFigures(lossRate: loss, bandwidth: congested ? rate : nil, rttMilliseconds: rtt)
    }
}
