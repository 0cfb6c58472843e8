/// Why the quality machine changed state; carried by `QualityChanged`.
public enum QualityReason: String, Sendable, Hashable, Codable {
    /// Loss stayed above the state's limit for its window.
    case loss
    /// Bandwidth stayed below the state's floor for its window.
    case bandwidth
    /// RTT stayed above the state's limit for its window (congestion).
    case rtt
    /// Conditions were good enough for the next level up for the stable period: probing starts.
    case stable
    /// The probe held for its whole period: the level above is confirmed.
    case confirmed
    /// Conditions failed the level above during the probe: back to the level it came from.
    case probeFailed = "probe_failed"
}
