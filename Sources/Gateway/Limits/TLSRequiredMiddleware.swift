import Hummingbird

/// On the plain HTTP port of a node run with `--require-tls`: the console (`/admin…`) and any
/// request that carries an admin's token or a console session cookie are answered 403 before
/// anything reads them, so an operator who typed `http://` learns to use HTTPS, and a credential
/// that did cross in clear is at least never accepted there. Public routes (playback, chat,
/// `/healthz`, `/metrics` with its own token) stay on plain HTTP.
struct TLSRequiredMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let admins: AdminDirectory
    let httpsPort: Int?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let console = path == "/admin" || path.hasPrefix("/admin/")
        let carriesAdmin = admins.identify(request.bearerToken) != nil || request.cookies[ConsoleSessions.cookie] != nil
        if console || carriesAdmin { throw Self.refusal(httpsPort: httpsPort) }
        return try await next(request, context)
    }

    static func refusal(httpsPort: Int?) -> APIError {
        let port = httpsPort.map { ":\($0)" } ?? ""
        return APIError(
            .forbidden, code: "tls_required",
            "streamd runs with --require-tls: admin routes and the admin token are accepted over HTTPS only; use https://HOST\(port) with the same path"
        )
    }
}
