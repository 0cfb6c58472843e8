import NIOCore

/// How much a publishing connection's socket must hold before it wakes the event loop
/// (`SO_RCVLOWAT`), so that a real-time stream is read in pieces of about `interval` of its own
/// bitrate instead of once per packet the encoder writes: the kernel waking and reading for each
/// small write was most of the ingest's CPU (docs/benchmarks.md#rtmp-read-pacing).
///
/// Sans I/O: the connection reports each read and each stats tick, and applies the answer.
/// Media waits at most about `interval` longer to be read, the same bound its hand-off to the
/// consumer already had. The rate is averaged over the last `history` windows, so the lumps that
/// paced reads themselves make do not move the mark; a window with nothing read turns it off at
/// once, so a stream that suddenly slows is late only until the next window closes. Reads that
/// stop altogether (an encoder pausing with less than a mark sent) turn it off on the next tick.
struct ReadPacing: Sendable {
    /// The rate is measured over windows at least this long, closed by the first read or tick
    /// after: a shorter one says nothing (a tick just after a read would see it empty). A stream
    /// whose bitrate suddenly falls more than sixfold, or an encoder that stops sending with less
    /// than a mark in the socket, is read late once, by at most a tick plus this.
    static let window = Duration.milliseconds(250)
    /// The stream time one read should carry.
    let interval: Duration
    /// The largest mark: a quarter of the socket's receive buffer, so the kernel never has to
    /// grow the buffer (and clamp the window the encoder may send into) to honour it.
    let maximum: Int
    /// Below this many bytes per interval pacing saves nothing worth the added wait: off.
    static let minimum = 2048
    /// Windows the rate is averaged over.
    static let history = 4
    /// The current mark; 1 (the kernel's default) means off.
    private(set) var lowWatermark = 1
    private var recent: [(bytes: Int, seconds: Double)] = []
    private var windowStart: NIODeadline
    private var bytesInWindow = 0
    private var lastRead: NIODeadline

    init(interval: Duration, receiveBufferSize: Int, now: NIODeadline = .now()) {
        self.interval = interval
        maximum = max(receiveBufferSize / 4, 1)
        windowStart = now
        lastRead = now
    }

    /// `bytes` were read at `now`; the new mark when it should change, else nil.
    mutating func read(_ bytes: Int, at now: NIODeadline) -> Int? {
        bytesInWindow += bytes
        lastRead = now
        return closeWindow(at: now)
    }

    /// The connection's stats tick at `now`: the new mark when it should change, and whether
    /// reads had stalled behind the mark, so bytes the encoder sent may still wait in the socket.
    mutating func tick(at now: NIODeadline) -> (mark: Int?, stalled: Bool) {
        guard lowWatermark > 1, now - lastRead >= TimeAmount(Self.window) else { return (closeWindow(at: now), false) }
        windowStart = now
        bytesInWindow = 0
        return (stalled(), true)
    }

    private mutating func closeWindow(at now: NIODeadline) -> Int? {
        guard now - windowStart >= TimeAmount(Self.window) else { return nil }
        let bytes = bytesInWindow
        let elapsed = Duration.nanoseconds((now - windowStart).nanoseconds)
        windowStart = now
        bytesInWindow = 0
        return update(bytesRead: bytes, over: elapsed)
    }

    /// The bytes read over the last `elapsed`; the new mark when it should change, else nil.
    mutating func update(bytesRead: Int, over elapsed: Duration) -> Int? {
        let seconds = elapsed.inSeconds
        guard seconds > 0 else { return nil }
        recent.append((bytesRead, seconds))
        if recent.count > Self.history { recent.removeFirst(recent.count - Self.history) }
        let target: Int
        if bytesRead == 0 {
            recent.removeAll()
            target = 1
        } else {
            let rate = Double(recent.reduce(0) { $0 + $1.bytes }) / recent.reduce(0) { $0 + $1.seconds }
            let perInterval = min(rate * interval.inSeconds, Double(maximum))
            target = perInterval < Double(Self.minimum) ? 1 : Int(perInterval)
        }
        // Small changes are not worth a system call; turning off or on always is.
        let worthIt =
            (target == 1) != (lowWatermark == 1)
            || Double(target) < Double(lowWatermark) * 0.7 || Double(target) > Double(lowWatermark) * 1.3
        guard worthIt else { return nil }
        lowWatermark = target
        return target
    }

    /// Nothing was read for a while though the stream is paced: the encoder paused with less
    /// than a mark in the socket. Off (the new mark, 1) so that is read now; nil when already off.
    mutating func stalled() -> Int? {
        recent.removeAll()
        guard lowWatermark != 1 else { return nil }
        lowWatermark = 1
        return 1
    }
}
