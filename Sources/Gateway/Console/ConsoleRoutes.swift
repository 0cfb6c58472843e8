import Crypto
import EventStore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What the console and the public pages need besides the REST API.
public struct ConsoleEndpoint: Sendable {
    public var sessions: ConsoleSessions
    public var dashboard: DashboardReadModel
    public var feed: DashboardFeed
    public var verification: VerificationCache
    public var assets: ConsoleAssets

    public init(store: EventStore, dashboard runner: ProjectionRunner, sessions: ConsoleSessions = ConsoleSessions()) {
        self.sessions = sessions
        self.dashboard = DashboardReadModel(store: store)
        self.feed = DashboardFeed(model: dashboard, runner: runner)
        self.verification = VerificationCache(store: store)
        self.assets = ConsoleAssets.bundled
    }
}

/// The console's and the pages' static files (plain HTML, CSS and ES modules), read once from
/// Gateway's resources.
public struct ConsoleAssets: Sendable {
    struct File: Sendable {
        var bytes: ByteBuffer
        var contentType: String
        var etag: String
    }

    let files: [String: File]
    /// Why there are none, when the resources could not be read.
    let problem: String?

    static let bundled: ConsoleAssets = {
        guard let folder = Bundle.module.url(forResource: "Assets", withExtension: nil) else {
            return ConsoleAssets(files: [:], problem: "streamd_Gateway.resources/Assets is missing beside the streamd binary")
        }
        var files: [String: File] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names {
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { continue }
            let digest = SHA256.hash(data: data).prefix(8).map { String(format: "%02x", $0) }.joined()
            files[name] = File(bytes: ByteBuffer(bytes: data), contentType: contentType(of: name), etag: "\"\(digest)\"")
        }
        return ConsoleAssets(files: files, problem: files.isEmpty ? "no files in \(folder.path)" : nil)
    }()

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "html": "text/html; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    func response(_ name: String, request: Request) -> Response {
        guard let file = files[name] else {
            return ConsolePages.text(.notFound, problem.map { "the console's files are missing: \($0)" } ?? "no such file: \(name)")
        }
        var headers = HTTPFields()
        headers[.contentType] = file.contentType
        headers[.eTag] = file.etag
        headers[.cacheControl] = "no-cache"
        headers[.xContentTypeOptions] = "nosniff"
        if request.headers[.ifNoneMatch] == file.etag { return Response(status: .notModified, headers: headers) }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: request.method == .head ? ByteBuffer() : file.bytes))
    }
}

/// `/admin…` (signed in with the admin token), `/watch/CHANNEL` and `/` (public): HTML shells whose
/// ES modules read the REST API; the console's live parts follow the dashboard projection's feed.
struct ConsoleRoutes: Sendable {
    let console: ConsoleEndpoint
    let admins: AdminDirectory
    var failures: AdminAuthFailures?
    let rateLimits: RequestRateLimits

    /// The console's pages: path under /admin, the `data-page` its script renders.
    static let pages: [(path: String, page: String, title: String)] = [
        ("admin", "overview", "Overview"),
        ("admin/channels", "channels", "Channels"),
        ("admin/channels/:arg", "channel", "Channel"),
        ("admin/sessions/:arg", "session", "Session"),
        ("admin/chat/:arg", "chat", "Chat moderation"),
        ("admin/audit", "audit", "Audit"),
    ]

    func register(on router: Router<GatewayRequestContext>) {
        let console = self.console
        for page in Self.pages {
            router.get(RouterPath(page.path)) { request, context in
                guard let session = Self.signedIn(request, console.sessions) else {
                    let next = request.uri.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "%2Fadmin"
                    return ConsolePages.redirect(to: "/admin/login?next=\(next)")
                }
                let argument = context.parameters.get("arg")
                return ConsolePages.html(
                    ConsolePages.console(page: page.page, title: page.title, argument: argument, csrf: session.csrf))
            }
        }
        router.get("admin/login") { request, _ in
            let nonce = ConsoleSessions.randomToken()
            let next = Self.safeNext(request.uri.queryParameters["next"].map(String.init))
            var response = ConsolePages.html(ConsolePages.login(nonce: nonce, next: next, problem: nil))
            response.setCookie(
                Cookie(name: ConsoleSessions.loginCookie, value: nonce, maxAge: 600, path: "/admin", httpOnly: true, sameSite: .strict))
            return response
        }
        router.post("admin/login") { request, context in
            try await rateLimits.checkLogin(from: context.remoteHost)
            if let wait = failures?.lockedOut(context.remoteHost) { throw AdminAuthMiddleware.lockedOut(wait) }
            let form = try await Self.form(request)
            let next = Self.safeNext(form["next"])
            let nonce = request.cookies[ConsoleSessions.loginCookie]?.value
            guard let nonce, ConsoleSessions.matches(form["nonce"], nonce) else {
                let fresh = ConsoleSessions.randomToken()
                var response = ConsolePages.html(
                    ConsolePages.login(nonce: fresh, next: next, problem: "The sign-in form expired; enter the token again."),
                    status: .forbidden)
                response.setCookie(
                    Cookie(name: ConsoleSessions.loginCookie, value: fresh, maxAge: 600, path: "/admin", httpOnly: true, sameSite: .strict))
                return response
            }
            guard let token = form["token"], let admin = admins.identify(token.trimmingCharacters(in: .whitespaces)) else {
                failures?.failed(context.remoteHost)
                return ConsolePages.html(
                    ConsolePages.login(
                        nonce: nonce, next: next,
                        problem:
                            "That is not the admin token, nor any live admin's. serve printed where the first one is kept (DATA_DIR/admin-token)."
                    ),
                    status: .unauthorized)
            }
            let opened = console.sessions.open(admin: admin)
            var response = ConsolePages.redirect(to: next)
            response.setCookie(
                Cookie(name: ConsoleSessions.cookie, value: opened.id, path: "/", httpOnly: true, sameSite: .strict))
            response.setCookie(
                Cookie(name: ConsoleSessions.loginCookie, value: "", maxAge: 0, path: "/admin", httpOnly: true, sameSite: .strict))
            return response
        }
        router.post("admin/logout") { request, _ in
            let form = try await Self.form(request)
            if let id = request.cookies[ConsoleSessions.cookie]?.value, let session = console.sessions.session(id: id) {
                guard ConsoleSessions.matches(form["csrf"], session.csrf) else {
                    return ConsolePages.text(.forbidden, "signing out needs the page's CSRF token; reload the console and try again")
                }
                console.sessions.close(id: id)
            }
            var response = ConsolePages.redirect(to: "/admin/login")
            response.setCookie(Cookie(name: ConsoleSessions.cookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
            return response
        }
        for method in [HTTPRequest.Method.get, .head] {
            router.on("assets/:file", method: method) { request, context in
                console.assets.response(try context.parameters.require("file"), request: request)
            }
        }
    }

    static func signedIn(_ request: Request, _ sessions: ConsoleSessions) -> ConsoleSessions.Session? {
        guard let id = request.cookies[ConsoleSessions.cookie]?.value else { return nil }
        return sessions.session(id: id)
    }

    /// Only a path of this console: never another host.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/admin"), !next.hasPrefix("//"), !next.contains("\\"), next.count < 512 else { return "/admin" }
        return next
    }

    static func form(_ request: Request) async throws -> [String: String] {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 4_096)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", "the form is over 4096 bytes")
        }
        var fields: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&").prefix(16) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = parts.first else { continue }
            let value = parts.count > 1 ? parts[1] : ""
            func decode(_ text: Substring) -> String {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            fields[decode(name)] = decode(value)
        }
        return fields
    }
}
