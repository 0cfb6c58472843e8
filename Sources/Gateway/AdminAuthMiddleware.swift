import EventStore
import Foundation
import Hummingbird

/// Admin routes need `Authorization: Bearer <admin token>`, or a signed-in console session's
/// cookie; with the cookie, a request that changes something must also carry the session's CSRF
/// token in `X-CSRF-Token`. Wrong tokens count against the address (`AdminAuthFailures`), which is
/// answered 429 once locked out, even with the right token.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let token: String
    let sessions: ConsoleSessions?
    let failures: AdminAuthFailures?

    init(token: String, sessions: ConsoleSessions? = nil, failures: AdminAuthFailures? = nil) {
        self.token = token
        self.sessions = sessions
        self.failures = failures
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let failures, let wait = failures.lockedOut(context.remoteHost) {
            throw Self.lockedOut(wait)
        }
        guard let header = request.headers[.authorization] else {
            if let sessions, try sessions.admits(request) { return try await next(request, context) }
            throw APIError(
                .unauthorized, code: "unauthorized",
                "this route needs the admin token: send the header Authorization: Bearer <token> (serve prints where the token is stored), or sign in at /admin/login"
            )
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), ConsoleSessions.matches(String(header.dropFirst(prefix.count)), token) else {
            failures?.failed(context.remoteHost)
            throw APIError(
                .unauthorized, code: "unauthorized", "the bearer token is not the admin token; check the token file in the data folder")
        }
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
