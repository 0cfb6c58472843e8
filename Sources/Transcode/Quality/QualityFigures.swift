/// The three inputs of the quality machine for one sample; nil where the protocol does not measure
/// one (a missing figure neither degrades nor holds back).
public struct QualityFigures: Sendable, Hashable, Codable {
    /// Fraction lost, 0…1 (SRT: packets; RTMP: frames, see the Gateway's mapping).
    public var lossRate: Double?
    /// Bits per second the source delivers.
    public var bandwidth: Double?
    /// Round-trip time (SRT) or the queueing delay that stands for it (RTMP), in milliseconds.
    public var rttMilliseconds: Double?

    public init(lossRate: Double? = nil, bandwidth: Double? = nil, rttMilliseconds: Double? = nil) {
        self.lossRate = lossRate
        self.bandwidth = bandwidth
        self.rttMilliseconds = rttMilliseconds
    }

    /// Non-finite or negative figures become unknown; loss is capped at 1.
    public var sanitized: QualityFigures {
        func clean(_ value: Double?) -> Double? {
            guard let value, value.isFinite, value >= 0 else { return nil }
            return value
        }
        return QualityFigures(
            lossRate: clean(lossRate).map { Swift.min($0, 1) }, bandwidth: clean(bandwidth),
            rttMilliseconds: clean(rttMilliseconds))
    }
}
