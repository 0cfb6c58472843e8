/// Gathers a session's sampling intervals into windows, one `IngestStatsSampled` each: the log
/// gets a summary every `length` seconds instead of an event every second (a pure value; the
/// session holds it, the connection feeds it).
///
/// A window closes early, at the interval that shows trouble, so the quality machine (which folds
/// every interval of the window, in order) still hears of it within a second: frames dropped or
/// late, reads paused for a slow consumer, SRT loss of 1 % or more, a queueing delay 250 ms above
/// the lowest seen (RTMP), a video frame rate under 80 % or a bitrate under half of the window's
/// mean so far. In steady conditions only its decisions to go up wait for the
/// window's end, and those wait 60 s of stability anyway. `flush()` closes a window at once (the
/// connection or the session ended).
public struct IngestStatsWindow: Sendable {
    public static let defaultLength = 10.0

    public let length: Double
    private var pending: [IngestStats] = []
    private var lowestLag: Int64?

    public init(length: Double = IngestStatsWindow.defaultLength) {
        self.length = length.isFinite ? Swift.min(Swift.max(length, 0), 600) : Self.defaultLength
    }

    public var isEmpty: Bool { pending.isEmpty }

    /// A closed window and its last interval, every figure.
    public typealias Closed = (last: IngestStats, summary: IngestStatsSummary)

    /// Adds one interval; returns the window when this one closes it.
    public mutating func add(_ stats: IngestStats) -> Closed? {
        let troubled = showsTrouble(stats)
        pending.append(stats)
        let seconds = pending.reduce(0) { $0 + ($1.intervalSeconds.isFinite ? Swift.max($1.intervalSeconds, 0) : 0) }
        // Intervals are about a second: close at the tick that reaches the length, not one later.
        if troubled || seconds >= length - 0.5 || pending.count >= Self.maximumIntervals { return flush() }
        return nil
    }

    /// Closes the window now; nil when it holds nothing.
    public mutating func flush() -> Closed? {
        defer { pending.removeAll(keepingCapacity: true) }
        guard let last = pending.last, let summary = IngestStatsSummary(pending) else { return nil }
        return (last, summary)
    }

    /// A new connection continues the session: its timestamp lag has a new origin.
    public mutating func reconnected() { lowestLag = nil }

    /// At most this many intervals to a window, whatever their lengths say.
    static let maximumIntervals = 60

    private mutating func showsTrouble(_ stats: IngestStats) -> Bool {
        var trouble = stats.droppedFrames > 0 || stats.lateFrames > 0 || stats.backpressured
        if let srt = stats.srt {
            let all = Double(Swift.max(0, srt.packetsReceived)) + Double(Swift.max(0, srt.packetsLost))
            if all > 0, Double(Swift.max(0, srt.packetsLost)) / all >= 0.01 { trouble = true }
        }
        if let lag = stats.timestampLagMilliseconds {
            if stats.lateFrames > 0 { lowestLag = nil }
            let lowest = Swift.min(lowestLag ?? lag, lag)
            lowestLag = lowest
            if lag &- lowest >= 250 { trouble = true }
        }
        if !pending.isEmpty {
            let count = Double(pending.count)
            let bitrate = Double(pending.reduce(0) { $0 &+ Swift.max(0, $1.receivedBitrate) }) / count
            if Double(stats.receivedBitrate) < bitrate / 2 { trouble = true }
            let fps = pending.reduce(0) { $0 + ($1.videoFrameRate.isFinite ? Swift.max($1.videoFrameRate, 0) : 0) } / count
            if stats.videoFrameRate.isFinite, stats.videoFrameRate < fps * 0.8 { trouble = true }
        }
        return trouble
    }
}
