import EventStore
import Foundation
import Gateway
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Node
import TestSupport
import Testing

/// Signing in to the console, its cookie and CSRF token, and what is refused: a forged or missing
/// cookie, a missing CSRF token, a viewer token where the admin's is needed. Nothing refused
/// reaches the log.
@Suite struct ConsoleAuthTests {
    static let token = "console-admin-token"

    /// The value of `name` among a response's Set-Cookie headers, and the whole header.
    static func cookie(_ name: String, in response: TestResponse) -> (value: String, header: String)? {
        for header in response.headers[values: .setCookie] where header.hasPrefix("\(name)=") {
            let value = header.dropFirst(name.count + 1).prefix { $0 != ";" }
            return (String(value), header)
        }
        return nil
    }

    static func csrf(in html: String) -> String? {
        guard let range = html.range(of: #"name="csrf-token" content=""#) else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    @Test(.timeLimit(.minutes(1))) func signInCookieCSRFAndRefusals() async throws {
        let store = try await TestDatabase.makeStore("console", registry: .platform)
        defer { Task { await store.shutdown() } }
        let platform = try await Platform(
            store: store, configuration: GatewayConfiguration(host: "127.0.0.1", adminToken: Self.token, rtmpPort: 0, srtPort: 0),
            media: .init(directory: FileManager.default.temporaryDirectory.appendingPathComponent("streamd-console-\(UUID())")),
            logger: TestDatabase.logger)
        platform.start()
        defer { Task { await platform.shutdown() } }
        let eventsBefore = try await store.headPosition()
        let app = Application(router: platform.gateway.router())

        try await app.test(.router) { client in
            // Not signed in: pages send to the sign-in form, the API says how to get in.
            try await client.execute(uri: "/admin/channels", method: .get) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/admin/login?next=%2Fadmin%2Fchannels")
            }
            try await client.execute(uri: "/v1/channels", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("/admin/login"))
            }

            // The form's nonce cookie, then a wrong token, a missing nonce, and the right token.
            var nonce = ""
            try await client.execute(uri: "/admin/login?next=/admin/audit", method: .get) { response in
                #expect(response.status == .ok)
                let login = try #require(Self.cookie(ConsoleSessions.loginCookie, in: response))
                #expect(login.header.contains("HttpOnly") && login.header.contains("SameSite=Strict"))
                nonce = login.value
                #expect(String(buffer: response.body).contains(#"value="/admin/audit""#))
            }
            let nonceCookie: HTTPFields = [
                .cookie: "\(ConsoleSessions.loginCookie)=\(nonce)", .contentType: "application/x-www-form-urlencoded",
            ]
            try await client.execute(
                uri: "/admin/login", method: .post, headers: nonceCookie,
                body: ByteBuffer(string: "token=wrong&nonce=\(nonce)&next=%2Fadmin")
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("not the admin token"))
                #expect(Self.cookie(ConsoleSessions.cookie, in: response) == nil)
            }
            try await client.execute(
                uri: "/admin/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "token=\(Self.token)&nonce=\(nonce)&next=%2Fadmin")
            ) { response in
                #expect(response.status == .forbidden, "without its nonce cookie the form is refused (login CSRF)")
            }
            var session = ""
            try await client.execute(
                uri: "/admin/login", method: .post, headers: nonceCookie,
                body: ByteBuffer(string: "token=\(Self.token)&nonce=\(nonce)&next=https%3A%2F%2Fevil.example%2F")
            ) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/admin", "never redirected off the console")
                let cookie = try #require(Self.cookie(ConsoleSessions.cookie, in: response))
                #expect(cookie.header.contains("HttpOnly") && cookie.header.contains("SameSite=Strict") && cookie.header.contains("Path=/"))
                session = cookie.value
            }
            let signedIn: HTTPFields = [.cookie: "\(ConsoleSessions.cookie)=\(session)"]

            // Signed in: the page carries its CSRF token, reads need nothing more, changes need it.
            var csrf = ""
            try await client.execute(uri: "/admin", method: .get, headers: signedIn) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                csrf = try #require(Self.csrf(in: String(buffer: response.body)))
            }
            try await client.execute(uri: "/v1/channels", method: .get, headers: signedIn) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/channels", method: .post, headers: signedIn, body: ByteBuffer(string: #"{"name":"nocsrf"}"#))
            {
                response in
                #expect(response.status == .forbidden)
                #expect(String(buffer: response.body).contains("CSRF"))
            }
            var wrongCSRF = signedIn
            wrongCSRF[HTTPField.Name("X-CSRF-Token")!] = "not-the-token"
            try await client.execute(
                uri: "/v1/channels", method: .post, headers: wrongCSRF, body: ByteBuffer(string: #"{"name":"nocsrf"}"#)
            ) {
                response in
                #expect(response.status == .forbidden)
            }
            var withCSRF = signedIn
            withCSRF[HTTPField.Name("X-CSRF-Token")!] = csrf
            try await client.execute(
                uri: "/v1/channels", method: .post, headers: withCSRF, body: ByteBuffer(string: #"{"name":"console"}"#)
            ) {
                response in
                #expect(response.status == .created)
            }
            try await client.execute(
                uri: "/v1/moderation/console/settings", method: .put, headers: signedIn, body: ByteBuffer(string: "{}")
            ) {
                response in
                #expect(response.status == .forbidden, "moderation takes the cookie too, and its CSRF rule")
            }

            // A forged cookie and a viewer's token are strangers here.
            let forged: HTTPFields = [.cookie: "\(ConsoleSessions.cookie)=\(String(repeating: "A", count: 43))"]
            try await client.execute(uri: "/admin", method: .get, headers: forged) { response in
                #expect(response.status == .seeOther)
            }
            try await client.execute(uri: "/v1/channels", method: .get, headers: forged) { response in
                #expect(response.status == .unauthorized)
            }
            var viewerToken = ""
            try await client.execute(uri: "/v1/viewers", method: .post, body: ByteBuffer(string: #"{"name":"ann"}"#)) { response in
                #expect(response.status == .created)
                viewerToken = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body))["token"] ?? ""
            }
            try await client.execute(uri: "/v1/channels", method: .get, headers: [.authorization: "Bearer \(viewerToken)"]) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/dashboard/live", method: .get, headers: [.authorization: "Bearer \(viewerToken)"]) {
                response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/admin", method: .get, headers: [.authorization: "Bearer \(viewerToken)"]) { response in
                #expect(response.status == .seeOther)
            }

            // Signing out needs the page's token; then the cookie is worth nothing.
            try await client.execute(
                uri: "/admin/logout", method: .post, headers: signedIn.merging([.contentType: "application/x-www-form-urlencoded"]),
                body: ByteBuffer(string: "csrf=wrong")
            ) { response in
                #expect(response.status == .forbidden)
            }
            try await client.execute(
                uri: "/admin/logout", method: .post, headers: signedIn.merging([.contentType: "application/x-www-form-urlencoded"]),
                body: ByteBuffer(string: "csrf=\(csrf)")
            ) { response in
                #expect(response.status == .seeOther)
                #expect(Self.cookie(ConsoleSessions.cookie, in: response)?.header.contains("Max-Age=0") == true)
            }
            try await client.execute(uri: "/v1/channels", method: .get, headers: signedIn) { response in
                #expect(response.status == .unauthorized)
            }

            // Guessing the token is rate-limited per address.
            var limited = false
            for _ in 0..<12 {
                try await client.execute(
                    uri: "/admin/login", method: .post, headers: nonceCookie, body: ByteBuffer(string: "token=guess&nonce=\(nonce)")
                ) { response in
                    if response.status == .tooManyRequests { limited = true }
                }
            }
            #expect(limited)
        }
        // Refusals add one event: the wrong tokens of this address, counted in one AdminAuthRejected
        // (issue "lock the doors"); the rest is the channel created (with its key) and the viewer registered.
        let added = try await store.read(after: eventsBefore, limit: 100).map(\.eventType)
        #expect(added.sorted() == ["AdminAuthRejected", "ChannelCreated", "ChatViewerRegistered", "StreamKeyIssued"], "\(added)")
    }
}

extension HTTPFields {
    fileprivate func merging(_ other: HTTPFields) -> HTTPFields {
        var merged = self
        for field in other { merged.append(field) }
        return merged
    }
}
