/// What bounds the HTTP side against strangers (docs/api.md#limits). Every refusal says what limit
/// was hit and when to come back.
public struct HTTPLimits: Sendable, Hashable {
    /// Open HTTP connections at most (WebSocket included); the extra one is answered 503 and closed.
    /// Keep it well under the process's open-file limit: segment files and database connections
    /// need descriptors too.
    public var maxConnections: Int
    /// Open HTTP connections from one address at most.
    public var maxConnectionsPerAddress: Int
    /// Chat sockets at most, and from one address at most. The per-address caps are generous:
    /// a carrier-grade NAT or a campus puts many viewers behind one IPv4 address.
    public var maxWebSockets: Int
    public var maxWebSocketsPerAddress: Int
    /// A request head (request line and headers) must arrive whole within this of its first byte,
    /// and a new connection must send one within this (slowloris).
    public var headerTimeout: Duration
    /// A keep-alive connection with no request in progress and nothing read or written for this
    /// long is closed. Longer than any blocking playlist reload holds a request.
    public var idleTimeout: Duration
    /// `POST /v1/viewers` per address: a burst, then one per `viewerInterval`.
    public var viewerBurst: Int
    public var viewerInterval: Duration
    /// Chat history requests per address: a burst, then one per `historyInterval`.
    public var historyBurst: Int
    public var historyInterval: Duration
    /// `POST /v1/cmcd` per address: a burst, then one per `cmcdInterval`. Generous: players behind
    /// one NAT address each send a report every few seconds.
    public var cmcdBurst: Int
    public var cmcdInterval: Duration
    /// Requests for recordings that do not exist, per address: a burst, then one per `missInterval`.
    /// Past that, and on every 429, the answer is held for `tarpit` before it is sent, so a client
    /// asking in a loop slows down to one answer a `tarpit` per connection instead of taking the
    /// server's CPU from everyone else. A player that hits one missing recording is not held.
    public var missBurst: Int
    public var missInterval: Duration
    public var tarpit: Duration
    /// `Retry-After` on a refusal for being full.
    public var retryAfterSeconds: Int
    /// When a cap is reached, a connection between requests (or past its answer) that has been
    /// quiet this long is closed to make room for the new one (`ConnectionRoster`).
    public var quietBeforeReuse: Duration

    public init(
        maxConnections: Int = 16_384, maxConnectionsPerAddress: Int = 2_048, maxWebSockets: Int = 10_000,
        maxWebSocketsPerAddress: Int = 1_024,
        headerTimeout: Duration = .seconds(10), idleTimeout: Duration = .seconds(60), viewerBurst: Int = 10,
        viewerInterval: Duration = .seconds(10), historyBurst: Int = 10, historyInterval: Duration = .seconds(1),
        cmcdBurst: Int = 120, cmcdInterval: Duration = .milliseconds(100),
        missBurst: Int = 20, missInterval: Duration = .seconds(1), tarpit: Duration = .seconds(1), retryAfterSeconds: Int = 10,
        quietBeforeReuse: Duration = .seconds(2)
    ) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.maxWebSockets = maxWebSockets
        self.maxWebSocketsPerAddress = maxWebSocketsPerAddress
        self.headerTimeout = headerTimeout
        self.idleTimeout = idleTimeout
        self.viewerBurst = viewerBurst
        self.viewerInterval = viewerInterval
        self.historyBurst = historyBurst
        self.historyInterval = historyInterval
        self.cmcdBurst = cmcdBurst
        self.cmcdInterval = cmcdInterval
        self.missBurst = missBurst
        self.missInterval = missInterval
        self.tarpit = tarpit
        self.retryAfterSeconds = retryAfterSeconds
        self.quietBeforeReuse = quietBeforeReuse
    }

    /// The defaults, with the connection cap sized to an open-file limit: half of it for client
    /// sockets, so segment files and database connections are never starved.
    public static func fitting(openFiles: Int) -> HTTPLimits {
        var limits = HTTPLimits()
        limits.maxConnections = max(64, min(limits.maxConnections, openFiles / 2))
        limits.maxWebSockets = min(limits.maxWebSockets, limits.maxConnections)
        return limits
    }
}
