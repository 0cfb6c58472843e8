import Crypto
import EventStore
import Foundation
import JWTKit

/// Viewer tokens: JWTs signed with HS256 (jwt-kit) by the server's secret (`DATA_DIR/chat-secret`).
/// Only tokens this server signed verify; expiry is checked against `now`, so tests can move it.
public struct ViewerTokens: Sendable {
    public struct Claims: JWTPayload, Hashable {
        /// The user id.
        public var sub: String
        public var name: String
        public var iat: Int64
        public var exp: Int64

        /// Expiry is checked by `ViewerTokens.verify(_:now:)`, against its clock.
        public func verify(using algorithm: some JWTAlgorithm) async throws {}
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

    /// Tokens longer than this are refused before any parsing.
    static let maximumLength = 2_048

    private let key: HMACKey
    public let lifetime: TimeInterval

    public init(secret: [UInt8], lifetime: TimeInterval) {
        self.key = HMACKey(key: SymmetricKey(data: secret))
        self.lifetime = lifetime
    }

    /// jwt-kit keeps keys in an actor that is filled asynchronously: one per call, with this key only.
    private func keys() async -> JWTKeyCollection {
        await JWTKeyCollection().add(hmac: key, digestAlgorithm: .sha256)
    }

    public static func randomSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    public func issue(userId: String, name: String, now: Date = Date()) async throws -> (token: String, claims: Claims) {
        let issued = Int64(now.timeIntervalSince1970)
        let claims = Claims(sub: userId, name: name, iat: issued, exp: issued + Int64(lifetime))
        return (try await keys().sign(claims), claims)
    }

    /// The header's `alg`. jwt-kit checks the signature with our one HS256 key whatever the header
    /// names, so a token of ours relabelled (`none`, `HS384`) would verify: only HS256 is taken.
    static func algorithm(of token: String) -> String? {
        struct Header: Decodable { var alg: String }
        guard let first = token.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first else { return nil }
        var base64 = first.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return (try? JSONDecoder().decode(Header.self, from: data))?.alg
    }

    public func verify(_ token: String, now: Date = Date()) async throws(Failure) -> Claims {
        guard token.utf8.count <= Self.maximumLength, Self.algorithm(of: token) == "HS256" else { throw .malformed }
        let claims: Claims
        do {
            claims = try await keys().verify(token, as: Claims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature
        } catch {
            throw .malformed
        }
        guard Int64(now.timeIntervalSince1970) < claims.exp else { throw .expired }
        return claims
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
        do {
            if let text = try SecretFile.read(file) {
                // Nodes may share this file: replacing a bad one would log out every viewer and
                // split the nodes, so it is an error to fix, not to paper over.
                guard let data = Data(base64Encoded: text), data.count >= 32 else {
                    throw GatewayError(
                        "\(file.path) is not a chat token secret (base64 of at least 32 bytes); restore it, or delete it to generate a new one (every viewer token then ends)"
                    )
                }
                return Array(data)
            }
            let secret = ViewerTokens.randomSecret()
            try SecretFile.create(file, text: Data(secret).base64EncodedString())
            return secret
        } catch let problem as SecretFile.Problem {
            throw GatewayError(problem.description)
        }
    }
}
