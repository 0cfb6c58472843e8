import Channels
import Chat
import EventStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Ingest
import Logging
import Packager
import TestSupport
import Testing
import Transcode

@testable import Gateway

/// Issue 22, item 7: every route the gateway registers, against every kind of caller, checked
/// against a table over a real server. Each cell is sent from its own loopback address, so the
/// per-address limits and the wrong-admin-token lockout of one cell never colour another; the
/// lockout itself has its own test.
@Suite(.serialized) struct AuthorizationMatrixTests {
    static let adminToken = "matrix-admin-token-of-32-characters"
    static let metricsToken = "matrix-metrics-token"

    enum Credential: Int, CaseIterable, CustomStringConvertible {
        case none, wrong, viewer, otherModerator, admin, console
        var description: String {
            ["no token", "wrong token", "viewer", "moderator of another room", "admin", "console session"][rawValue]
        }
    }

    struct Row: Sendable {
        var method: String
        /// As `Router.routes` names it.
        var route: String
        var path: String
        var body: String?
        var contentType = "application/json"
        /// One status per `Credential`, in order.
        var expected: [Int]
        /// The answer never ends (a server-sent event stream): read its head only.
        var headOnly = false
        var extraHeaders = ""
    }

    /// What each credential sends.
    struct Callers: Sendable {
        var viewer: String
        var otherModerator: String
        var consoleCookie: String

        func headers(_ credential: Credential) -> String {
            switch credential {
            case .none: ""
            case .wrong: "Authorization: Bearer not-the-admin-token-but-looks-like-one\r\n"
            case .viewer: "Authorization: Bearer \(viewer)\r\n"
            case .otherModerator: "Authorization: Bearer \(otherModerator)\r\n"
            case .admin: "Authorization: Bearer \(AuthorizationMatrixTests.adminToken)\r\n"
            case .console: "Cookie: \(ConsoleSessions.cookie)=\(consoleCookie)\r\n"
            }
        }
    }

    static let session = "0b7a4a52-8c4a-4c55-9b8e-3f1d2a6e0c11"
    static let form = "application/x-www-form-urlencoded"

    /// Admin routes: 401 to any bearer but the admin token; a console session reads, and changes
    /// only with its CSRF token (403 without).
    static func admin(
        _ method: String, _ route: String, _ path: String, _ status: Int, body: String? = nil, headOnly: Bool = false
    )
        -> Row
    {
        let console = method == "GET" ? status : 403
        return Row(
            method: method, route: route, path: path, body: body, expected: [401, 401, 401, 401, status, console], headOnly: headOnly)
    }

    static func everyone(_ method: String, _ route: String, _ path: String, _ status: Int, body: String? = nil) -> Row {
        Row(method: method, route: route, path: path, body: body, expected: Array(repeating: status, count: Credential.allCases.count))
    }

    /// Chat moderation: the admin token or a moderator of that room; a viewer (or a moderator of
    /// another room) is 403; a token that is neither a viewer token nor the admin's is 401.
    static func moderation(_ method: String, _ route: String, _ path: String, _ status: Int, body: String? = nil) -> Row {
        Row(
            method: method, route: route, path: path, body: body,
            expected: [401, 401, 403, 403, status, method == "GET" ? status : 403])
    }

    static let table: [Row] = [
        everyone("GET", "/healthz", "/healthz", 200),
        Row(method: "GET", route: "/metrics", path: "/metrics", expected: [401, 401, 401, 401, 200, 401]),
        // Admin REST.
        admin("GET", "/v1/channels", "/v1/channels", 200),
        admin("POST", "/v1/channels", "/v1/channels", 201, body: #"{"name":"made-by-matrix"}"#),
        admin("GET", "/v1/channels/{name}", "/v1/channels/demo", 200),
        admin("POST", "/v1/channels/{name}/key", "/v1/channels/spare/key", 200),
        admin("DELETE", "/v1/channels/{name}/key", "/v1/channels/spare/key", 204),
        admin("GET", "/v1/events", "/v1/events?limit=5", 200),
        admin("GET", "/v1/admins", "/v1/admins", 200),
        admin("POST", "/v1/admins", "/v1/admins", 201, body: #"{"name":"made-by-matrix"}"#),
        admin("DELETE", "/v1/admins/{name}", "/v1/admins/nobody", 404),
        admin("GET", "/v1/events/verify", "/v1/events/verify", 200),
        admin("GET", "/v1/audit/projections", "/v1/audit/projections", 200),
        admin("GET", "/v1/audit/projections/{name}", "/v1/audit/projections/channels?asOf=1", 200),
        admin("GET", "/v1/audit/projections/{name}/live", "/v1/audit/projections/chat-rooms/live", 200),
        admin("GET", "/v1/channels/{name}/quality", "/v1/channels/demo/quality", 200),
        // Past the door, an empty body is refused for what it lacks (400), not for who sent it.
        admin("PUT", "/v1/channels/{name}/quality", "/v1/channels/demo/quality", 400, body: "{}"),
        admin("GET", "/v1/channels/{name}/ingest-alerts", "/v1/channels/demo/ingest-alerts", 200),
        admin("PUT", "/v1/channels/{name}/ingest-alerts", "/v1/channels/demo/ingest-alerts", 400, body: "{}"),
        admin("GET", "/v1/channels/{name}/ladder", "/v1/channels/demo/ladder", 200),
        admin("PUT", "/v1/channels/{name}/ladder", "/v1/channels/demo/ladder", 400, body: "{}"),
        admin("GET", "/v1/channels/{name}/playback", "/v1/channels/demo/playback", 200),
        admin("PUT", "/v1/channels/{name}/playback", "/v1/channels/demo/playback", 200, body: "{}"),
        admin("GET", "/v1/channels/{name}/recordings", "/v1/channels/demo/recordings", 200),
        admin("GET", "/v1/streams", "/v1/streams", 200),
        admin("GET", "/v1/nodes", "/v1/nodes", 200),
        admin("GET", "/v1/webhooks", "/v1/webhooks", 200),
        admin("POST", "/v1/webhooks", "/v1/webhooks", 400, body: #"{"url":"ftp://nowhere/","events":["ChannelCreated"]}"#),
        admin("GET", "/v1/webhooks/{id}", "/v1/webhooks/\(UUID())", 404),
        admin("DELETE", "/v1/webhooks/{id}", "/v1/webhooks/\(UUID())", 404),
        admin("POST", "/v1/webhooks/{id}/secret", "/v1/webhooks/\(UUID())/secret", 404),
        admin("DELETE", "/v1/streams/{id}", "/v1/streams/\(session)", 404),
        admin("GET", "/v1/streams/{id}/alerts", "/v1/streams/\(session)/alerts", 404),
        admin("GET", "/v1/dashboard/live", "/v1/dashboard/live", 200),
        admin("GET", "/v1/dashboard/live/events", "/v1/dashboard/live/events", 200, headOnly: true),
        admin("GET", "/v1/dashboard/sessions", "/v1/dashboard/sessions", 200),
        admin("GET", "/v1/dashboard/sessions/{id}", "/v1/dashboard/sessions/\(session)", 404),
        // An unknown session's timeline is empty, not missing.
        admin("GET", "/v1/dashboard/sessions/{id}/timeline", "/v1/dashboard/sessions/\(session)/timeline", 200),
        admin("GET", "/v1/dashboard/activity", "/v1/dashboard/activity", 200),
        // A session's report and story from the log: an unknown session is missing.
        admin("GET", "/v1/sessions/{id}/report", "/v1/sessions/\(session)/report", 404),
        admin("GET", "/v1/sessions/{id}/timeline", "/v1/sessions/\(session)/timeline", 404),
        // Chat: viewers and history are public; moderation is the admin's or the room's moderators'.
        everyone("POST", "/v1/viewers", "/v1/viewers", 201, body: #"{"name":"cell"}"#),
        // Erasing a viewer is the admin's (an unknown id: 404, after the door).
        admin("DELETE", "/v1/viewers/{id}", "/v1/viewers/u_nobody?reason=matrix", 404),
        Row(method: "GET", route: "/v1/chat/{name}/history", path: "/v1/chat/demo/history", expected: [200, 401, 200, 200, 200, 200]),
        moderation("POST", "/v1/moderation/{name}/moderators", "/v1/moderation/demo/moderators", 201, body: #"{"userId":"u_new"}"#),
        moderation("DELETE", "/v1/moderation/{name}/moderators/{user}", "/v1/moderation/demo/moderators/u_new", 204),
        moderation(
            "POST", "/v1/moderation/{name}/actions", "/v1/moderation/demo/actions", 200,
            body: #"{"action":"timeout","userId":"u_target","seconds":1}"#),
        moderation("GET", "/v1/moderation/{name}/settings", "/v1/moderation/demo/settings", 200),
        moderation("PUT", "/v1/moderation/{name}/settings", "/v1/moderation/demo/settings", 200, body: "{}"),
        // Playback and players' reports: public, whatever is sent.
        everyone("GET", "/live/{channel}/index.m3u8", "/live/demo/index.m3u8", 200),
        everyone("HEAD", "/live/{channel}/index.m3u8", "/live/demo/index.m3u8", 200),
        everyone("OPTIONS", "/live/{channel}/index.m3u8", "/live/demo/index.m3u8", 204),
        everyone("GET", "/live/{channel}/thumbnail.jpg", "/live/demo/thumbnail.jpg", 404),
        everyone("HEAD", "/live/{channel}/thumbnail.jpg", "/live/demo/thumbnail.jpg", 404),
        everyone("OPTIONS", "/live/{channel}/thumbnail.jpg", "/live/demo/thumbnail.jpg", 204),
        everyone("GET", "/live/{channel}/{rendition}/{file}", "/live/demo/720p/s0.m4s", 200),
        everyone("HEAD", "/live/{channel}/{rendition}/{file}", "/live/demo/720p/init.mp4", 200),
        everyone("OPTIONS", "/live/{channel}/{rendition}/{file}", "/live/demo/720p/s0.m4s", 204),
        everyone("GET", "/vod/{session}/index.m3u8", "/vod/\(session)/index.m3u8", 404),
        everyone("HEAD", "/vod/{session}/index.m3u8", "/vod/\(session)/index.m3u8", 404),
        everyone("OPTIONS", "/vod/{session}/index.m3u8", "/vod/\(session)/index.m3u8", 204),
        everyone("GET", "/vod/{session}/{rendition}/{file}", "/vod/\(session)/720p/s0.m4s", 404),
        everyone("HEAD", "/vod/{session}/{rendition}/{file}", "/vod/\(session)/720p/s0.m4s", 404),
        everyone("OPTIONS", "/vod/{session}/{rendition}/{file}", "/vod/\(session)/720p/s0.m4s", 204),
        everyone("POST", "/v1/cmcd", "/v1/cmcd", 204, body: #"[{"e":"ps","sta":"p","ts":1700000000000}]"#),
        everyone("OPTIONS", "/v1/cmcd", "/v1/cmcd", 204),
        // Pages: the watch page is public; the console's pages need its session cookie (bearer
        // tokens are for the API), else they send the browser to sign in.
        everyone("GET", "/", "/", 200),
        everyone("GET", "/watch/{channel}", "/watch/demo", 200),
        everyone("GET", "/assets/{file}", "/assets/console.js", 200),
        everyone("HEAD", "/assets/{file}", "/assets/watch.js", 200),
        Row(method: "GET", route: "/admin", path: "/admin", expected: [303, 303, 303, 303, 303, 200]),
        Row(method: "GET", route: "/admin/channels", path: "/admin/channels", expected: [303, 303, 303, 303, 303, 200]),
        Row(method: "GET", route: "/admin/channels/{arg}", path: "/admin/channels/demo", expected: [303, 303, 303, 303, 303, 200]),
        Row(method: "GET", route: "/admin/sessions/{arg}", path: "/admin/sessions/\(session)", expected: [303, 303, 303, 303, 303, 200]),
        Row(method: "GET", route: "/admin/chat/{arg}", path: "/admin/chat/demo", expected: [303, 303, 303, 303, 303, 200]),
        Row(method: "GET", route: "/admin/audit", path: "/admin/audit", expected: [303, 303, 303, 303, 303, 200]),
        everyone("GET", "/admin/login", "/admin/login", 200),
        // Signing in takes the token from the form, with the login form's nonce cookie: without it, 403.
        Row(
            method: "POST", route: "/admin/login", path: "/admin/login", body: "token=x&nonce=y", contentType: form,
            expected: Array(repeating: 403, count: Credential.allCases.count)),
        // Signing out a session needs its CSRF token; anyone else is just sent to sign in.
        Row(
            method: "POST", route: "/admin/logout", path: "/admin/logout", body: "csrf=wrong", contentType: form,
            expected: [303, 303, 303, 303, 303, 403]),
        // The chat socket (the WebSocket router): anyone may open it and read.
        Row(
            method: "GET", route: "/v1/chat/{name}", path: "/v1/chat/demo",
            expected: Array(repeating: 101, count: Credential.allCases.count),
            headOnly: true,
            extraHeaders:
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        ),
    ]

    /// A gateway as `Platform` builds it (every optional part on), over a fresh database.
    struct Harness: Sendable {
        let gateway: Gateway
        let chat: ChatService
        let callers: Callers
        let store: EventStore
        let channels: ChannelService
        let fixture: PlaybackFixture
        /// The chat token secret (`ChatConfiguration.secret`).
        let secret: [UInt8]
        let endpoint: ChatEndpoint
        /// The origin store's root (`ROOT/media`); `ROOT` is the harness's own folder.
        let media: URL
    }

    static func withHarness(_ label: String, _ body: @Sendable (Harness) async throws -> Void) async throws {
        var registry = EventRegistry()
        registry.registerLogEvents()
        registry.registerChannelEvents()
        registry.registerIngestEvents()
        registry.registerTranscodeEvents()
        registry.registerPackagerEvents()
        registry.registerQualityEvents()
        registry.registerChatEvents()
        registry.registerGatewayEvents()
        let store = try await TestDatabase.makeStore(label, registry: registry)
        let channels = ChannelService(store: store)
        channels.start()
        let chat = ChatService(store: store, channels: channels)
        let chatTask = Task { await chat.run() }
        let fixture = try await PlaybackFixture.make()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("streamd-matrix-\(UUID().uuidString)")
        let media = root.appendingPathComponent("media")
        try FileManager.default.createDirectory(at: media, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let recordings = RecordingCatalog(store: store, origin: OriginStore(root: media))
        do {
            for name in ["demo", "other", "spare"] { _ = try await channels.create(name: name, metadata: EventMetadata(actor: .admin)) }
            var gateway = Gateway(
                configuration: GatewayConfiguration(host: "127.0.0.1", port: 0, adminToken: adminToken, rtmpPort: 0, srtPort: 0),
                store: store, channels: channels, sessions: SessionRegistry.standalone(sink: { _, _, _ in }),
                playback: .init(
                    directory: fixture.directory, recordings: recordings,
                    thumbnails: LiveThumbnails(options: .init(directory: nil), logger: TestDatabase.logger)))
            let console = ConsoleEndpoint(store: store, dashboard: ProjectionRunner(store: store, sql: DashboardProjection()))
            gateway.console = console
            gateway.audit = AuditEndpoint(
                sql: [ChannelsProjection()], memory: [.init(model: ChatRoomsAudit.model) { try await chat.auditValue() }])
            let secret = ViewerTokens.randomSecret()
            var endpoint = ChatEndpoint(service: chat, configuration: ChatConfiguration(secret: secret), adminToken: adminToken)
            endpoint.consoleSessions = console.sessions
            gateway.chat = endpoint
            gateway.metrics = MetricsEndpoint(token: metricsToken) { Array("streamd_up 1\n".utf8) }
            _ = try await chat.setModerator("other", userId: "u_othermod", granted: true, reason: nil)
            let callers = Callers(
                viewer: try await endpoint.tokens.issue(userId: "u_viewer", name: "Viewer").token,
                otherModerator: try await endpoint.tokens.issue(userId: "u_othermod", name: "OtherMod").token,
                consoleCookie: console.sessions.open().id)
            try await body(
                Harness(
                    gateway: gateway, chat: chat, callers: callers, store: store, channels: channels, fixture: fixture, secret: secret,
                    endpoint: endpoint, media: media))
        } catch {
            chatTask.cancel()
            await channels.shutdown()
            await store.shutdown()
            throw error
        }
        chatTask.cancel()
        await channels.shutdown()
        await store.shutdown()
    }

    static func request(_ row: Row, _ credential: Credential, _ callers: Callers) -> String {
        var text = "\(row.method) \(row.path) HTTP/1.1\r\nHost: matrix.test\r\nConnection: close\r\n"
        text += callers.headers(credential) + row.extraHeaders
        if let body = row.body {
            text += "Content-Type: \(row.contentType)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            text += "\r\n"
        }
        return text
    }

    /// The table names every route the gateway registers, and only those: a route added without a
    /// row fails here.
    @Test func theTableCoversEveryRoute() async throws {
        try await Self.withHarness("matrix-routes") { harness in
            let registered = Set(harness.gateway.router().routes.map(\.description))
                .union(harness.gateway.webSocketRouter().routes.map(\.description))
            let tabled = Set(Self.table.map { "\($0.method) \($0.route)" })
            #expect(registered.subtracting(tabled).sorted() == [], "routes with no row in the table")
            #expect(tabled.subtracting(registered).sorted() == [], "rows for routes the gateway does not register")
            #expect(Self.table.allSatisfy { $0.expected.count == Credential.allCases.count })
        }
    }

    @Test(.timeLimit(.minutes(5))) func everyRouteAnswersEveryCallerAsTheTableSays() async throws {
        try await Self.withHarness("matrix") { harness in
            let app = harness.gateway.application(logger: TestDatabase.logger)
            try await app.test(.live) { client in
                guard let port = client.port else { throw TestSupportError("no port") }
                var mismatches: [String] = []
                for (index, row) in Self.table.enumerated() {
                    for credential in Credential.allCases {
                        // Its own source address per cell: 127.0.ROW.CREDENTIAL+1.
                        let source = "127.0.\(index + 1).\(credential.rawValue + 1)"
                        let answer = try await RawConnection.exchange(
                            port: port, Self.request(row, credential, harness.callers), from: source, headOnly: row.headOnly)
                        let want = row.expected[credential.rawValue]
                        if answer.status != want {
                            mismatches.append(
                                "\(row.method) \(row.path) as \(credential): \(answer.status), table says \(want) — \(answer.text.prefix(300))"
                            )
                        }
                    }
                }
                #expect(mismatches.isEmpty, "\(mismatches.count) cells differ:\n\(mismatches.joined(separator: "\n"))")
            }
        }
    }

    /// Ten wrong tokens from an address within a minute lock it out of every route that takes the
    /// admin token, the chat's moderation and history included, even with the right token; other
    /// addresses and public routes are untouched.
    @Test(.timeLimit(.minutes(3))) func wrongAdminTokensLockTheAddressOutEverywhere() async throws {
        try await Self.withHarness("matrix-throttle") { harness in
            let app = harness.gateway.application(logger: TestDatabase.logger)
            try await app.test(.live) { client in
                guard let port = client.port else { throw TestSupportError("no port") }
                func status(_ method: String, _ path: String, _ token: String?, from source: String) async throws -> Int {
                    let auth = token.map { "Authorization: Bearer \($0)\r\n" } ?? ""
                    let request = "\(method) \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\(auth)\r\n"
                    return try await RawConnection.exchange(port: port, request, from: source).status
                }
                // Wrong tokens spread over an admin route, chat moderation, chat history and /metrics.
                let paths = ["/v1/channels", "/v1/moderation/demo/settings", "/v1/chat/demo/history", "/metrics"]
                for attempt in 0..<10 {
                    let answer = try await status("GET", paths[attempt % paths.count], "wrong-\(attempt)", from: "127.0.200.1")
                    #expect(answer == 401, "attempt \(attempt)")
                }
                for path in paths {
                    #expect(try await status("GET", path, Self.adminToken, from: "127.0.200.1") == 429, "\(path) locked out")
                }
                #expect(try await status("GET", "/v1/channels", Self.adminToken, from: "127.0.200.2") == 200, "another address")
                #expect(try await status("GET", "/healthz", nil, from: "127.0.200.1") == 200, "public routes stay open")
                #expect(try await status("GET", "/v1/chat/demo/history", nil, from: "127.0.200.1") == 200, "public history too")
            }
        }
    }
}
