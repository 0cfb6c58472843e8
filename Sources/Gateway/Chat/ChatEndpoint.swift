import Channels
import Chat
import EventStore
import Foundation
import Hummingbird
import HummingbirdWebSocket

/// The chat's HTTP and WebSocket face: viewer tokens, the room socket, history and moderation.
public struct ChatEndpoint: Sendable {
    public let service: ChatService
    public let tokens: ViewerTokens
    public let configuration: ChatConfiguration
    let writer = ChatSocketWriter()
    let adminToken: String
    /// The rooms that exist (one per channel), from memory: see `KnownSet`.
    let channelNames: KnownSet<String>
    /// Signed-in console users moderate as the admin (their changes carry the CSRF token).
    public var consoleSessions: ConsoleSessions?

    public init(service: ChatService, configuration: ChatConfiguration, adminToken: String) {
        self.service = service
        self.configuration = configuration
        let channels = service.channels
        self.channelNames = KnownSet { Set(try await channels.list().map(\.name)) }
        self.tokens = ViewerTokens(secret: configuration.secret, lifetime: configuration.tokenLifetime)
        self.adminToken = adminToken
    }

    func isAdminToken(_ token: String) -> Bool {
        ConsoleSessions.matches(token, adminToken)
    }

    /// The admin token, or a viewer token (whose moderator rights the service checks per room).
    func identity(bearer token: String) async throws -> ChatIdentity {
        if isAdminToken(token) { return .admin }
        do {
            let claims = try await tokens.verify(token)
            return ChatIdentity(userId: claims.sub, name: claims.name)
        } catch {
            throw APIError(.unauthorized, code: "invalid_token", error.description)
        }
    }

    func identity(_ request: Request) async throws -> ChatIdentity {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            if let consoleSessions, try consoleSessions.admits(request) { return .admin }
            throw APIError(.unauthorized, code: "unauthorized", "send Authorization: Bearer <admin token or a moderator's viewer token>")
        }
        return try await identity(bearer: String(header.dropFirst("Bearer ".count)))
    }

    /// Maps chat errors to HTTP.
    static func apiError(_ error: any Error) -> any Error {
        guard let error = error as? ChatError else { return error }
        switch error {
        case .invalid, .invalidName: return APIError(.badRequest, code: "invalid", error.description)
        case .nameTaken: return APIError(.conflict, code: "name_taken", error.description)
        case .roomNotFound, .messageNotFound: return APIError(.notFound, code: "not_found", error.description)
        case .notModerator: return APIError(.forbidden, code: "forbidden", error.description)
        case .unauthenticated: return APIError(.unauthorized, code: "unauthorized", error.description)
        }
    }

    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch { throw apiError(error) }
    }
}
