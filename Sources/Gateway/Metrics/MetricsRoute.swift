import Hummingbird
import NIOCore

/// What serves `/metrics`: the Prometheus exposition, made by whoever owns the metrics backend
/// (the node), and the token a scraper must present, if any.
public struct MetricsEndpoint: Sendable {
    public var exposition: @Sendable () async -> [UInt8]
    /// When set, a scrape needs `Authorization: Bearer <token>` (the admin token works too).
    public var token: String?

    public init(token: String? = nil, exposition: @escaping @Sendable () async -> [UInt8]) {
        self.token = token
        self.exposition = exposition
    }
}

struct MetricsRoute: Sendable {
    let endpoint: MetricsEndpoint
    let adminToken: String

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    func register(on router: Router<GatewayRequestContext>) {
        router.get("metrics") { request, _ in
            if let token = endpoint.token {
                let presented = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
                guard ConsoleSessions.matches(presented, token) || ConsoleSessions.matches(presented, adminToken) else {
                    throw APIError(
                        .unauthorized, code: "unauthorized",
                        "/metrics needs its token: send Authorization: Bearer <metrics token> (as given to serve --metrics-token), or the admin token"
                    )
                }
            }
            let body = await endpoint.exposition()
            return Response(
                status: .ok, headers: [.contentType: Self.contentType, .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
        }
    }
}
