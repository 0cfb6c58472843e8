import EventStore
import Foundation
import Hummingbird

/// Admin routes need `Authorization: Bearer <token>` of a live admin (`AdminDirectory`), or a
/// signed-in console session's cookie; with the cookie, a request that changes something must also
/// carry the session's CSRF token in `X-CSRF-Token`. The admin's name goes into the context, so
/// the events the request causes name them. Wrong tokens count against the address
/// (`AdminAuthFailures`), which is answered 429 once locked out, even with the right token.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let admins: AdminDirectory
    let sessions: ConsoleSessions?
    let failures: AdminAuthFailures?
    /// The answer to every request, on the plain port of a node run with `--require-tls`.
    let tlsRequired: APIError?

    init(admins: AdminDirectory, sessions: ConsoleSessions? = nil, failures: AdminAuthFailures? = nil, tlsRequired: APIError? = nil) {
        self.admins = admins
        self.sessions = sessions
        self.failures = failures
        self.tlsRequired = tlsRequired
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let tlsRequired { throw tlsRequired }
        if let failures, let wait = failures.lockedOut(context.remoteHost) {
            throw Self.lockedOut(wait)
        }
        var context = context
        guard let header = request.headers[.authorization] else {
            if let sessions, let name = try sessions.admittedAdmin(request), admins.isLive(name) {
                context.adminName = name
                return try await next(request, context)
            }
            throw APIError(
                .unauthorized, code: "unauthorized",
                "this route needs the admin token: send the header Authorization: Bearer <token> (serve prints where the token is stored), or sign in at /admin/login"
            )
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), let name = admins.identify(String(header.dropFirst(prefix.count))) else {
            failures?.failed(context.remoteHost)
            throw APIError(
                .unauthorized, code: "unauthorized",
                "the bearer token is not a live admin's token; check the token file in the data folder, or ask an admin (`streamd admins list`) whether yours was revoked"
            )
        }
        context.adminName = name
        return try await next(request, context)
    }

    static func lockedOut(_ wait: Duration) -> APIError {
        let seconds = max(1, Int(wait.components.seconds))
        return APIError(
            .tooManyRequests, code: "too_many_failures",
            "too many wrong admin tokens from this address; try again in \(seconds) seconds with the token from the data folder",
            retryAfterSeconds: seconds)
    }
}

extension Request {
    /// The token of an `Authorization: Bearer <token>` header; nil without one.
    var bearerToken: String? {
        headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst("Bearer ".count)) : nil }
    }
}
