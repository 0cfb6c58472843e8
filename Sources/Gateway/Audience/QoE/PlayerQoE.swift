/// One player's experience (one CMCD `sid` on one live session), folded from its CMCD request
/// reports and event reports: a pure value, time passed in.
///
/// - Startup time: v2 `msd` when the player sends it, else the time from its `sta=s` event to its
///   first `sta=p` (by its `ts`), else the time from its first request, if that carried `su`, to
///   its first request without `su`.
/// - Rebuffers: the most of the three ways a player tells of a stall (`bs` flags, `bsd` reports,
///   moves into `sta=r`), so one stall told twice counts once.
/// - Rebuffer time: the sum of v2 `bsd` when the player sends it; else the time it spent in
///   `sta=r` (by `ts`); else an estimate: each `bs` counts the time since the player's previous
///   request or report, at most `stallEstimateLimit` (the stall happened in that gap; a stalled
///   LL-HLS player keeps asking for parts, so the gap is short).
/// - Watched time: from the end of startup (the first request when startup is unknown) to the last
///   request or report; it includes the stalls, so rebuffer time / watched time is the share of
///   the session spent stalled.
public struct PlayerQoE: Sendable, Hashable {
    static let stallEstimateLimit = Duration.seconds(5)
    /// Longer reported durations (a stuck clock, a hostile player) are not believed.
    static let believableDuration = 600_000
    static let believableLength = 86_400_000
    static let believableBitrate = 10_000_000

    public private(set) var firstSeen: ContinuousClock.Instant
    public private(set) var lastSeen: ContinuousClock.Instant
    private var requests = 0
    private var startupPending = false
    private var startupFromRequests: Duration?
    private var startupFromEvents: Duration?
    private var startingAt: Int64?
    private var state: String?
    private var rebufferingSince: Int64?
    private var starvationFlags = 0
    private var stateRebuffers = 0
    private var reportedStalls = 0
    private var reportedStallTime = Duration.zero
    private var stateStallTime = Duration.zero
    private var estimatedStallTime = Duration.zero
    private var bufferTotal = 0
    private var bufferSamples = 0
    private var bitrateTotal = 0
    private var bitrateSamples = 0
    public private(set) var lastBufferLength: Int?
    public private(set) var lastLiveLatency: Int?

    public init(firstSeen: ContinuousClock.Instant) {
        self.firstSeen = firstSeen
        self.lastSeen = firstSeen
    }

    public mutating func fold(_ report: CMCDReport, at now: ContinuousClock.Instant) {
        let previous = lastSeen
        if now > lastSeen { lastSeen = now }
        if let delay = report.startDelay, delay <= Self.believableDuration, startupFromEvents == nil {
            startupFromEvents = .milliseconds(delay)
        }
        if report.event == nil {
            if requests == 0 {
                startupPending = report.startup
            } else if startupPending, !report.startup {
                startupFromRequests = firstSeen.duration(to: now)
                startupPending = false
            }
            requests += 1
        }
        if report.bufferStarvation {
            starvationFlags += 1
            estimatedStallTime += min(previous.duration(to: now), Self.stallEstimateLimit)
        }
        if let stall = report.starvationDuration, stall <= Self.believableDuration {
            reportedStalls += 1
            reportedStallTime += .milliseconds(stall)
        }
        if let state = report.state { enter(state, at: report.timestamp) }
        if report.isPicture {
            if let buffer = report.bufferLength, buffer <= Self.believableLength {
                bufferTotal += buffer
                bufferSamples += 1
                lastBufferLength = buffer
            }
            if let bitrate = report.bitrate, bitrate <= Self.believableBitrate {
                bitrateTotal += bitrate
                bitrateSamples += 1
            }
        }
        if let latency = report.liveLatency, latency <= Self.believableLength { lastLiveLatency = latency }
    }

    private mutating func enter(_ next: String, at timestamp: Int64?) {
        if let since = rebufferingSince, next != "r" {
            if let timestamp, timestamp >= since, timestamp - since <= Int64(Self.believableDuration) {
                stateStallTime += .milliseconds(timestamp - since)
            }
            rebufferingSince = nil
        }
        switch next {
        case "s":
            if startingAt == nil { startingAt = timestamp }
        case "p":
            if startupFromEvents == nil, let startingAt, let timestamp, timestamp >= startingAt,
                timestamp - startingAt <= Int64(Self.believableDuration)
            {
                startupFromEvents = .milliseconds(timestamp - startingAt)
            }
        case "r":
            if state != "r" {
                stateRebuffers += 1
                rebufferingSince = timestamp
            }
        default:
            break
        }
        state = next
    }

    public var startupTime: Duration? { startupFromEvents ?? startupFromRequests }

    public var rebuffers: Int { max(starvationFlags, stateRebuffers, reportedStalls) }

    public var rebufferTime: Duration {
        if reportedStalls > 0 { return reportedStallTime }
        if stateStallTime > .zero { return stateStallTime }
        return estimatedStallTime
    }

    public var watchedTime: Duration {
        let start = firstSeen + (startupTime ?? .zero)
        return start < lastSeen ? start.duration(to: lastSeen) : .zero
    }

    /// Rebuffer time over watched time; nil before anything was watched.
    public var rebufferRatio: Double? {
        let watched = watchedTime
        guard watched > .zero else { return nil }
        return min(1, rebufferTime.seconds / watched.seconds)
    }

    /// The mean of `bl` over requests for the picture, milliseconds.
    public var averageBufferLength: Int? { bufferSamples > 0 ? bufferTotal / bufferSamples : nil }

    /// The mean of `br` over requests for the picture, kbps.
    public var averageBitrate: Int? { bitrateSamples > 0 ? bitrateTotal / bitrateSamples : nil }

    /// How far behind the live edge the player plays: its last `ltc`, else its last `bl` (a
    /// player holding that much media ahead of its playhead is at least that far behind).
    public var liveEdgeDistance: Int? { lastLiveLatency ?? lastBufferLength }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
