import CSRT

/// SRT's own view of a publishing connection over one sampling interval (libsrt `srt_bstats`):
/// what the quality state machine reads beside the bitrate.
public struct SRTLinkStatistics: Sendable, Hashable, Codable {
    public var rttMilliseconds: Double = 0
    /// Receiving rate measured by libsrt, megabits per second.
    public var receiveRateMbps: Double = 0
    /// Estimated link capacity, megabits per second.
    public var bandwidthMbps: Double = 0
    public var packetsReceived: Int = 0
    /// Packets detected missing (most are recovered by retransmission).
    public var packetsLost: Int = 0
    public var packetsRetransmitted: Int = 0
    /// Packets never recovered in time: the stream has a hole.
    public var packetsDropped: Int = 0
    public var packetsBelated: Int = 0
    public var packetsUndecrypted: Int = 0
    /// Lost over (received + lost), in percent.
    public var lossPercent: Double = 0
    public var receiveBufferMilliseconds: Int = 0
    public var receiveBufferPackets: Int = 0
    public var receiveBufferBytes: Int = 0
    /// The negotiated receiver latency.
    public var latencyMilliseconds: Int = 0
    /// MPEG-TS continuity-counter errors in the interval (packets lost above SRT).
    public var continuityErrors: Int = 0

    public init() {}

    init(_ perf: SRT_TRACEBSTATS, latencyMilliseconds: Int, continuityErrors: Int) {
        rttMilliseconds = (perf.msRTT * 100).rounded() / 100
        receiveRateMbps = (perf.mbpsRecvRate * 1000).rounded() / 1000
        bandwidthMbps = (perf.mbpsBandwidth * 1000).rounded() / 1000
        packetsReceived = Int(clamping: perf.pktRecv)
        packetsLost = Int(perf.pktRcvLoss)
        packetsRetransmitted = Int(perf.pktRcvRetrans)
        packetsDropped = Int(perf.pktRcvDrop)
        packetsBelated = Int(clamping: perf.pktRcvBelated)
        packetsUndecrypted = Int(perf.pktRcvUndecrypt)
        let offered = max(packetsReceived, 0) + max(packetsLost, 0)
        lossPercent = offered > 0 ? (Double(max(packetsLost, 0)) / Double(offered) * 10_000).rounded() / 100 : 0
        receiveBufferMilliseconds = Int(perf.msRcvBuf)
        receiveBufferPackets = Int(perf.pktRcvBuf)
        receiveBufferBytes = Int(perf.byteRcvBuf)
        self.latencyMilliseconds = latencyMilliseconds
        self.continuityErrors = continuityErrors
    }
}
