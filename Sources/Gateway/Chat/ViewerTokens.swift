import Crypto
import Foundation

/// Viewer tokens: JWTs signed with HS256 by the server's secret (`DATA_DIR/chat-secret`).
/// jwt-kit 5 needs swift-crypto 4, which this build pins at 3, so the compact JWS is built here
/// from swift-crypto's HMAC, verified in constant time, and only HS256 is accepted.
public struct ViewerTokens: Sendable {
    public struct Claims: Codable, Sendable, Hashable {
        /// The user id.
        public var sub: String
        public var name: String
        public var iat: Int64
        public var exp: Int64
    }

    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case malformed, badSignature, expired

        public var description: String {
            switch self {
            case .malformed: "the token is not a viewer token; get one with POST /v1/viewers"
            case .badSignature: "the token was not issued by this server (or its secret changed); get a new one with POST /v1/viewers"
            case .expired: "the token has expired; get a new one with POST /v1/viewers"
            }
        }
    }

    private let secret: [UInt8]
    public let lifetime: TimeInterval
    private var key: SymmetricKey { SymmetricKey(data: secret) }

    public init(secret: [UInt8], lifetime: TimeInterval) {
        self.secret = secret
        self.lifetime = lifetime
    }

    public static func randomSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    private static let header = base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8))

    public func issue(userId: String, name: String, now: Date = Date()) throws -> (token: String, claims: Claims) {
        let issued = Int64(now.timeIntervalSince1970)
        let claims = Claims(sub: userId, name: name, iat: issued, exp: issued + Int64(lifetime))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let signingInput = Self.header + "." + Self.base64URL(try encoder.encode(claims))
        let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: key)
        return (signingInput + "." + Self.base64URL(Data(signature)), claims)
    }

    public func verify(_ token: String, now: Date = Date()) throws(Failure) -> Claims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.utf8.count <= 2_048, parts.count == 3,
              let headerData = Self.decodeBase64URL(parts[0]),
              let header = try? JSONDecoder().decode([String: String].self, from: headerData), header["alg"] == "HS256",
              let signature = Self.decodeBase64URL(parts[2]), let payload = Self.decodeBase64URL(parts[1])
        else { throw .malformed }
        let signingInput = Data("\(parts[0]).\(parts[1])".utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: key) else { throw .badSignature }
        guard let claims = try? JSONDecoder().decode(Claims.self, from: payload) else { throw .malformed }
        guard Int64(now.timeIntervalSince1970) < claims.exp else { throw .expired }
        return claims
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeBase64URL(_ text: Substring) -> Data? {
        guard text.utf8.count <= 2_048 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        let remainder = base64.utf8.count % 4
        if remainder == 1 { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        return Data(base64Encoded: base64)
    }
}

/// What the chat needs from `serve`: the token secret and lifetime, and the socket limits.
public struct ChatConfiguration: Sendable {
    public var secret: [UInt8]
    public var tokenLifetime: TimeInterval
    /// Frames a socket may have queued or unwritten (beyond the kernel's buffer) before it is
    /// closed 1013.
    public var socketQueue: Int
    /// SO_SNDBUF for chat sockets (nil: the kernel's, which grows to megabytes on fast links):
    /// with `socketQueue`, bounds how far a socket may fall behind.
    public var socketSendBuffer: Int?
    /// How long an evicted socket's close frame may take to get out before the connection is cut.
    public var evictionGrace: Duration
    /// Names nobody may register, besides the reserved ones.
    public var bannedNames: [String]

    public init(
        secret: [UInt8] = ViewerTokens.randomSecret(), tokenLifetime: TimeInterval = 86_400, socketQueue: Int = 1_024,
        socketSendBuffer: Int? = nil, evictionGrace: Duration = .seconds(2), bannedNames: [String] = []
    ) {
        self.secret = secret
        self.tokenLifetime = tokenLifetime
        self.socketQueue = socketQueue
        self.socketSendBuffer = socketSendBuffer
        self.evictionGrace = evictionGrace
        self.bannedNames = bannedNames
    }

    /// The secret in `DATA_DIR/chat-secret` (0600), created on first use.
    public static func secret(in dataDirectory: URL) throws -> [UInt8] {
        let file = dataDirectory.appendingPathComponent("chat-secret")
        if let text = try? String(contentsOf: file, encoding: .utf8),
           let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count >= 32 {
            return Array(data)
        }
        let secret = ViewerTokens.randomSecret()
        guard FileManager.default.createFile(atPath: file.path, contents: Data((Data(secret).base64EncodedString() + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw GatewayError("cannot write the chat token secret to \(file.path); check that the data folder is writable")
        }
        return secret
    }
}
