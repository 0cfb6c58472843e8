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
    let admins: AdminDirectory
    /// Admin tokens are accepted here, so wrong tokens count as on the admin routes.
    var failures: AdminAuthFailures?

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    func register(on router: Router<GatewayRequestContext>) {
        router.get("metrics") { request, context in
            if let token = endpoint.token {
                if let failures, let wait = failures.lockedOut(context.remoteHost) { throw AdminAuthMiddleware.lockedOut(wait) }
                let presented = request.bearerToken
                guard ConsoleSessions.matches(presented, token) || admins.identify(presented) != nil else {
                    if presented != nil { failures?.failed(context.remoteHost) }
                    throw APIError(
                        .unauthorized, code: "unauthorized",
                        "/metrics needs its token: send Authorization: Bearer <metrics token> (as given to serve --metrics-token), or an admin's token"
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
