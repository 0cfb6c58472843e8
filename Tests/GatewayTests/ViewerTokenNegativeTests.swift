import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

@testable import Gateway

/// Issue 22, item 7: forged, expired and oversized viewer tokens are refused by
/// `ViewerTokens.verify` and by every entry that takes one: 401 on the REST routes, an
/// `invalid_token` error (and no identity) on the chat socket, by `?token=` and by `auth` frame.
/// Forgeries claim the room moderator's user id, so one that slipped through would act as him.
@Suite(.serialized) struct ViewerTokenNegativeTests {
    static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func claims(sub: String, name: String, exp: Int64 = Int64(Date().timeIntervalSince1970) + 3_600) -> String {
        #"{"sub":"\#(sub)","name":"\#(name)","iat":\#(Int64(Date().timeIntervalSince1970)),"exp":\#(exp)}"#
    }

    /// A JWT signed by hand: `alg` in the header, HMAC with `secret` by `sign` (nil: no signature).
    static func jwt(alg: String, payload: String, sign: (([UInt8]) -> [UInt8])?) -> String {
        let input = base64URL(Array(#"{"alg":"\#(alg)","typ":"JWT"}"#.utf8)) + "." + base64URL(Array(payload.utf8))
        return input + "." + (sign.map { base64URL($0(Array(input.utf8))) } ?? "")
    }

    static func hs256(_ secret: [UInt8]) -> ([UInt8]) -> [UInt8] {
        { Array(HMAC<SHA256>.authenticationCode(for: $0, using: SymmetricKey(data: secret))) }
    }

    static func hs512(_ secret: [UInt8]) -> ([UInt8]) -> [UInt8] {
        { Array(HMAC<SHA512>.authenticationCode(for: $0, using: SymmetricKey(data: secret))) }
    }

    /// Every bad token, named.
    static func forgeries(secret: [UInt8], moderator: String) async throws -> [(String, String)] {
        let tokens = ViewerTokens(secret: secret, lifetime: 3_600)
        let good = try await tokens.issue(userId: "u_viewer", name: "Viewer").token
        var parts = good.split(separator: ".").map(String.init)
        parts[1] = base64URL(Array(claims(sub: moderator, name: "Viewer").utf8))
        let tampered = parts.joined(separator: ".")
        let other = try await ViewerTokens(secret: Array(repeating: 9, count: 32), lifetime: 3_600).issue(userId: moderator, name: "Mod")
        let expired = try await tokens.issue(userId: moderator, name: "Mod", now: Date().addingTimeInterval(-7_200)).token
        return [
            ("alg none", jwt(alg: "none", payload: claims(sub: moderator, name: "Mod"), sign: nil)),
            ("alg none, signed anyway", jwt(alg: "none", payload: claims(sub: moderator, name: "Mod"), sign: hs256(secret))),
            ("alg NONE", jwt(alg: "NONE", payload: claims(sub: moderator, name: "Mod"), sign: nil)),
            ("HS512 with the right secret", jwt(alg: "HS512", payload: claims(sub: moderator, name: "Mod"), sign: hs512(secret))),
            ("HS384 header on an HS256 signature", jwt(alg: "HS384", payload: claims(sub: moderator, name: "Mod"), sign: hs256(secret))),
            ("expired", expired),
            ("expired, signed by hand", jwt(alg: "HS256", payload: claims(sub: moderator, name: "Mod", exp: 1_000), sign: hs256(secret))),
            ("tampered payload", tampered),
            ("another server's secret", other.token),
            ("empty secret", jwt(alg: "HS256", payload: claims(sub: moderator, name: "Mod"), sign: hs256([]))),
            (
                "oversized, validly signed",
                jwt(alg: "HS256", payload: claims(sub: moderator, name: String(repeating: "m", count: 1_700)), sign: hs256(secret))
            ),
            ("two parts", parts[0] + "." + parts[1]),
            ("garbage", "not.a.token"),
        ]
    }

    @Test func verifyRefusesThemAll() async throws {
        let secret = ViewerTokens.randomSecret()
        let tokens = ViewerTokens(secret: secret, lifetime: 3_600)
        for (name, token) in try await Self.forgeries(secret: secret, moderator: "u_mod") {
            do {
                let claims = try await tokens.verify(token)
                Issue.record("\(name) verified as \(claims.sub)")
            } catch {
                if name.hasPrefix("expired") { #expect(error == .expired, "\(name)") }
            }
        }
        let (good, _) = try await tokens.issue(userId: "u_ok", name: "Ok")
        #expect(try await tokens.verify(good).sub == "u_ok", "the control: a real token verifies")
    }

    @Test(.timeLimit(.minutes(3))) func everyEntryThatTakesAViewerTokenRefusesThem() async throws {
        try await AuthorizationMatrixTests.withHarness("viewer-token-negatives") { harness in
            _ = try await harness.chat.setModerator("demo", userId: "u_mod", granted: true, reason: nil)
            let forgeries = try await Self.forgeries(secret: harness.secret, moderator: "u_mod")
            let app = harness.gateway.application(logger: TestDatabase.logger)
            try await app.test(.live) { client in
                guard let port = client.port else { throw TestSupportError("no port") }
                for (index, (name, token)) in forgeries.enumerated() {
                    // Each forgery from its own address: their 401s count as wrong admin tokens.
                    let source = "127.0.1.\(index + 1)"
                    for (method, path, body) in [
                        ("GET", "/v1/chat/demo/history", nil), ("GET", "/v1/moderation/demo/settings", nil),
                        ("POST", "/v1/moderation/demo/actions", #"{"action":"timeout","userId":"u_x","seconds":5}"#),
                    ] {
                        var request = "\(method) \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer \(token)\r\n"
                        if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
                        request += "\r\n" + (body ?? "")
                        let answer = try await RawConnection.exchange(port: port, request, from: source)
                        #expect(answer.status == 401, "\(name): \(method) \(path) answered \(answer.text.prefix(200))")
                    }
                    // The socket: by URL, then by an auth frame; neither identifies it.
                    let upgrade =
                        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                    let encoded = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                    let byURL = try await RawConnection.open(port: port, from: source)
                    try await byURL.send("GET /v1/chat/demo?token=\(encoded) HTTP/1.1\r\nHost: t\r\n" + upgrade)
                    let urlAnswer = try await byURL.wait { $0.contains("invalid_token") }
                    #expect(urlAnswer.status == 101, "\(name): the socket opens for reading")
                    #expect(urlAnswer.contains("invalid_token"), "\(name) by URL: \(urlAnswer.text.suffix(300))")
                    try await byURL.send(RawConnection.textFrame(#"{"type":"send","text":"forged","nonce":"f1"}"#))
                    let posted = try await byURL.wait { $0.contains("unauthenticated") }
                    #expect(posted.contains("unauthenticated"), "\(name): the socket cannot post")
                    #expect(!posted.contains("\"authenticated\""), "\(name)")
                    await byURL.close()

                    let byFrame = try await RawConnection.open(port: port, from: source)
                    try await byFrame.send("GET /v1/chat/demo HTTP/1.1\r\nHost: t\r\n" + upgrade)
                    _ = try await byFrame.wait { $0.contains("\"settings\"") }
                    try await byFrame.send(RawConnection.textFrame(#"{"type":"auth","token":"\#(token)"}"#))
                    let frameAnswer = try await byFrame.wait { $0.contains("invalid_token") }
                    #expect(frameAnswer.contains("invalid_token"), "\(name) by frame: \(frameAnswer.text.suffix(300))")
                    #expect(!frameAnswer.contains("\"authenticated\""), "\(name)")
                    await byFrame.close()
                }
                // The control: the moderator's real token does what the forgeries could not.
                let real = try await harness.endpoint.tokens.issue(userId: "u_mod", name: "Mod").token
                let answer = try await RawConnection.exchange(
                    port: port,
                    "GET /v1/moderation/demo/settings HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer \(real)\r\n\r\n",
                    from: "127.0.2.1")
                #expect(answer.status == 200, "\(answer.text.prefix(300))")
            }
        }
    }

    /// Wrong tokens in the socket's `auth` frame count as wrong admin tokens: after ten from one
    /// address, even the admin token is answered `too_many_failures` there, and other addresses
    /// are untouched. An expired viewer token of ours is a viewer who stayed long, not a guess.
    @Test(.timeLimit(.minutes(2))) func authFramesCountAgainstTheAddressLockout() async throws {
        try await AuthorizationMatrixTests.withHarness("auth-frame-lockout") { harness in
            let app = harness.gateway.application(logger: TestDatabase.logger)
            try await app.test(.live) { client in
                guard let port = client.port else { throw TestSupportError("no port") }
                let upgrade =
                    "GET /v1/chat/demo HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                func authenticate(_ token: String, from source: String, until marker: String) async throws -> RawConnection.Answer {
                    let socket = try await RawConnection.open(port: port, from: source)
                    defer { Task { await socket.close() } }
                    try await socket.send(upgrade)
                    _ = try await socket.wait { $0.contains("\"settings\"") }
                    try await socket.send(RawConnection.textFrame(#"{"type":"auth","token":"\#(token)"}"#))
                    return try await socket.wait { $0.contains(marker) }
                }
                let expired = try await harness.endpoint.tokens.issue(
                    userId: "u_late", name: "Late", now: Date(timeIntervalSinceNow: -10 * 86_400)
                ).token
                for _ in 0..<3 {
                    let answer = try await authenticate(expired, from: "127.0.3.1", until: "invalid_token")
                    #expect(answer.contains("expired"), "\(answer.text.suffix(200))")
                }
                for attempt in 1...10 {
                    let answer = try await authenticate(
                        "guess-\(attempt)-of-the-admin-token-000000", from: "127.0.3.1", until: "invalid_token")
                    #expect(answer.contains("invalid_token"))
                }
                let locked = try await authenticate(AuthorizationMatrixTests.adminToken, from: "127.0.3.1", until: "too_many_failures")
                #expect(locked.contains("too_many_failures") && !locked.contains("\"authenticated\""), "\(locked.text.suffix(300))")
                let other = try await authenticate(AuthorizationMatrixTests.adminToken, from: "127.0.3.2", until: "\"authenticated\"")
                #expect(other.contains("\"authenticated\""), "\(other.text.suffix(300))")
            }
        }
    }
}
