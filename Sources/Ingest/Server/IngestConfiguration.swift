/// Everything about the RTMP ingest that an operator may tune; each limit's refusal is explained.
public struct IngestConfiguration: Sendable, Hashable {
    /// The RTMP application encoders publish to (`rtmp://HOST:1935/live/STREAMKEY`).
    public var application = "live"
    /// Per handshake stage (C0+C1, then C2).
    public var handshakeTimeout: Duration = .seconds(10)
    /// From the handshake to an accepted publish.
    public var publishTimeout: Duration = .seconds(30)
    /// A publishing connection with no media for this long ends with `StreamEnded(timeout)`.
    public var idleTimeout: Duration = .seconds(10)
    public var statsInterval: Duration = .seconds(1)
    /// Media items are handed to the consumer in batches at most this far apart (zero: one by one),
    /// and a publishing socket is read in pieces of about this much of its stream (`ReadPacing`).
    /// Each wake-up and hand-off costs CPU; batching trades this much latency for it.
    public var mediaBatchInterval: Duration = .milliseconds(40)
    /// Largest RTMP message accepted (a keyframe must fit).
    public var maxMessageSize = 8 * 1024 * 1024
    /// Largest RTMP message before a publish is accepted: commands and metadata are small, and a
    /// stranger's connection should cost little memory (unfinished messages hold at most twice
    /// this).
    public var maxMessageSizeBeforePublish = 64 * 1024
    /// Replies queued for a connection and not yet taken by its socket, at most; a peer that does
    /// not read is closed past this, never buffered for.
    public var maxQueuedOutput = 256 * 1024
    /// A closing connection whose queued replies cannot be written within this is closed anyway.
    public var closeFlushTimeout: Duration = .seconds(2)
    /// Open TCP connections at most, publishing or not.
    public var maxConnections = 1000
    /// Open connections from one address at most (RTMP, and SRT separately); one more is closed at
    /// once (RTMP) or rejected with `SRT_REJX_OVERLOAD` (SRT), with a log line. Room for a studio
    /// publishing many channels from behind one NAT address.
    public var maxConnectionsPerAddress = 32
    /// At either cap, a connection that has not asked to publish and has sent nothing for this long
    /// is closed to make room for the new one (`ConnectionRoster`), so idle sockets from an address
    /// never lock out its encoder; only when none is quiet is the new one refused.
    public var quietBeforeReuse: Duration = .seconds(2)
    public var windowAcknowledgementSize: UInt32 = 2_500_000
    public var outgoingChunkSize: UInt32 = 4096
    public var failedAttempts = FailedAttemptLimiter.Policy()
    /// How many refusals are recorded one by one before the rest are summarised.
    public var refusals = RefusalSummarizer.Policy()
    public var sessions = SessionRegistry.Configuration()

    public init() {}
}
