/// What the HTTP side needs to know of the whole server.
public struct GatewayConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var adminToken: String
    /// The host name put in ingest and playback URLs; defaults to the request's Host header.
    public var publicHost: String?
    public var rtmpPort: Int
    public var srtPort: Int
    /// Connection caps, timeouts and rate limits for strangers (docs/api.md#limits).
    public var limits: HTTPLimits
    /// When set, `/metrics` needs it as a bearer token (the admin token works too); open otherwise.
    public var metricsToken: String?
    /// The HTTPS port and the RTMPS port, when the node has a certificate (`--tls-cert`).
    public var httpsPort: Int?
    public var rtmpsPort: Int?
    /// `--require-tls`: on plain HTTP, admin routes and admin credentials are answered 403.
    public var requireTLS = false
    /// How the cluster's other nodes reach this one (`--node-url`): live playback of a channel
    /// another node holds is proxied there, never to this URL.
    public var nodeURL: String?
    /// `--webhooks-allow-internal`: webhooks may call link-local addresses and this node's own port.
    public var webhooksAllowInternal = false
    /// How a node answers live playback of a channel another node ingests.
    public var clusterPlayback = ClusterPlayback.proxy

    public enum ClusterPlayback: String, Sendable, CaseIterable {
        /// Fetched from the origin node and streamed back: one URL per channel for players and caches.
        case proxy
        /// 307 to the origin node's URL: no extra hop, but players must reach every node.
        case redirect
    }

    public init(
        host: String = "0.0.0.0", port: Int = 8080, adminToken: String, publicHost: String? = nil, rtmpPort: Int = 1935,
        srtPort: Int = 9000,
        limits: HTTPLimits = HTTPLimits(), metricsToken: String? = nil
    ) {
        self.limits = limits
        self.metricsToken = metricsToken
        self.host = host
        self.port = port
        self.adminToken = adminToken
        self.publicHost = publicHost
        self.rtmpPort = rtmpPort
        self.srtPort = srtPort
    }
}
