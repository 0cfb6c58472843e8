import Channels
import EventStore
import Foundation
import Hummingbird

/// Admin routes need `Authorization: Bearer <admin token>`, or a signed-in console session's
/// cookie; with the cookie, a request that changes something must also carry the session's CSRF
/// token in `X-CSRF-Token`.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    let sessions: ConsoleSessions?

    init(token: String, sessions: ConsoleSessions? = nil) {
        self.token = Array(token.utf8)
        self.sessions = sessions
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            if let sessions, try sessions.admits(request) { return try await next(request, context) }
            throw APIError(
                .unauthorized, code: "unauthorized",
                "this route needs the admin token: send the header Authorization: Bearer <token> (serve prints where the token is stored), or sign in at /admin/login"
            )
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix),
            StreamKey.constantTimeEqual(
                StreamKey.hash(String(header.dropFirst(prefix.count))), StreamKey.hash(String(decoding: token, as: UTF8.self)))
        else {
            throw APIError(
                .unauthorized, code: "unauthorized", "the bearer token is not the admin token; check the token file in the data folder")
        }
        return try await next(request, context)
    }
}
