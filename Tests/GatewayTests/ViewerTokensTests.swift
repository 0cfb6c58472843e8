import Foundation
import Testing

@testable import Gateway

/// Viewer tokens through jwt-kit: what verifies and what is refused, and why.
@Suite struct ViewerTokensTests {
    static let secret = Array(UInt8(0)..<32)
    let tokens = ViewerTokens(secret: Self.secret, lifetime: 3_600)

    /// Signed (HS256, sorted claims) by the hand-written signer this replaced: tokens given out
    /// before the switch keep working.
    static let earlier =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTc2NDkwMDAwMCwibmFtZSI6IkFubiIsInN1YiI6InUxIn0.hvE9mP3ZmGylKOnPdsjWVhbkwaBP1VpEXksEexe-20w"
    /// The same claims signed with HS512 by the same secret.
    static let hs512 =
        "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTc2NDkwMDAwMCwibmFtZSI6IkFubiIsInN1YiI6InUxIn0.JPaP2CmcbCjcsBYDufC98lIofzZoAcVX3yLt2KPVhWgVK0aW0PAumbRcZ2dPFsV9ZTsdV5bm5NWknZT3dG0_zw"
    static let unsigned =
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTc2NDkwMDAwMCwibmFtZSI6IkFubiIsInN1YiI6InUxIn0."

    func failure(_ token: String, now: Date = Date()) async -> ViewerTokens.Failure? {
        do {
            _ = try await tokens.verify(token, now: now)
            return nil
        } catch {
            return error
        }
    }

    /// The secret several nodes share is made once, kept, and a damaged one stops the start with
    /// what to do instead of being replaced.
    @Test func theChatSecretIsKeptAndADamagedOneIsAnError() throws {
        let folder = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(
            "streamd-chat-secret-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try ChatConfiguration.secret(in: folder)
        #expect(first.count >= 32)
        #expect(try ChatConfiguration.secret(in: folder) == first)
        let file = folder.appendingPathComponent("chat-secret")
        try FileManager.default.removeItem(at: file)
        FileManager.default.createFile(atPath: file.path, contents: Data("not base64!\n".utf8), attributes: [.posixPermissions: 0o600])
        do {
            _ = try ChatConfiguration.secret(in: folder)
            Issue.record("a damaged secret should stop the start")
        } catch {
            #expect("\(error)".contains("restore it, or delete it"), "\(error)")
        }
        #expect(try String(contentsOf: file, encoding: .utf8) == "not base64!\n", "the damaged file is left as it was")
    }

    @Test func anIssuedTokenVerifiesUntilItExpires() async throws {
        let now = Date()
        let (token, claims) = try await tokens.issue(userId: "u7", name: "Bo", now: now)
        #expect(try await tokens.verify(token, now: now) == claims)
        #expect(claims.exp - claims.iat == 3_600)
        #expect(await failure(token, now: now.addingTimeInterval(3_601)) == .expired)
    }

    @Test func tokensSignedBeforeJWTKitStillVerify() async throws {
        let claims = try await tokens.verify(Self.earlier)
        #expect(claims.sub == "u1" && claims.name == "Ann")
    }

    @Test func forgeriesAreRefused() async throws {
        #expect(await failure(Self.unsigned) != nil, "alg none")
        #expect(await failure(Self.hs512) != nil, "HS512")
        let other = ViewerTokens(secret: Array(repeating: 7, count: 32), lifetime: 60)
        let (foreign, _) = try await other.issue(userId: "u1", name: "Ann")
        #expect(await failure(foreign) == .badSignature)
        var parts = Self.earlier.split(separator: ".").map(String.init)
        parts[1] = "eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTc2NDkwMDAwMCwibmFtZSI6IkV2ZSIsInN1YiI6InUxIn0"
        #expect(await failure(parts.joined(separator: ".")) == .badSignature, "payload changed")
        #expect(await failure("not a token") == .malformed)
        #expect(await failure(String(repeating: "a", count: 5_000)) == .malformed, "oversized")
    }
}
