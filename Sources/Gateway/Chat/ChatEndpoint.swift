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
    /// The admins whose tokens moderate everywhere; the node sets the one it follows from the log.
    public var admins: AdminDirectory
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
        self.admins = AdminDirectory(ownerToken: adminToken)
    }

    func isAdminToken(_ token: String) -> Bool {
        admins.identify(token) != nil
    }

    /// The admin token, or a viewer token (whose moderator rights the service checks per room).
    /// Anything else but an expired viewer token of ours (a viewer who stayed too long, not a
    /// guess) counts as a wrong admin token against `host` in `failures`; a host locked out is
    /// answered 429 whatever it sends.
    func identity(bearer token: String, from host: String? = nil, failures: AdminAuthFailures? = nil) async throws -> ChatIdentity {
        if let host, let failures, let wait = failures.lockedOut(host) { throw AdminAuthMiddleware.lockedOut(wait) }
        if let name = admins.identify(token) { return .admin(named: name) }
        do {
            let claims = try await tokens.verify(token)
            return ChatIdentity(userId: claims.sub, name: claims.name)
        } catch {
            if let host, error != .expired { failures?.failed(host) }
            throw APIError(.unauthorized, code: "invalid_token", error.description)
        }
    }

    /// The request's identity. A token that is neither the admin token nor a viewer token counts
    /// as a wrong admin token against `host` in `failures` (as on the admin routes), and a host
    /// locked out is answered 429 whatever it sends.
    func identity(_ request: Request, from host: String, failures: AdminAuthFailures?) async throws -> ChatIdentity {
        if let failures, let wait = failures.lockedOut(host) { throw AdminAuthMiddleware.lockedOut(wait) }
        guard let token = request.bearerToken else {
            if let consoleSessions, let name = try consoleSessions.admittedAdmin(request), admins.isLive(name) {
                return .admin(named: name)
            }
            throw APIError(.unauthorized, code: "unauthorized", "send Authorization: Bearer <admin token or a moderator's viewer token>")
        }
        return try await identity(bearer: token, from: host, failures: failures)
    }

    /// Whether a history reader gets the full record (removed messages, marked): the admin token,
    /// a signed-in console, or a viewer token of one of the room's moderators. No credential is the
    /// public; a credential that does not verify is refused, not read as the public.
    func readsFullRecord(
        _ channel: String, _ request: Request, from host: String, failures: AdminAuthFailures?
    ) async throws -> Bool {
        if request.headers[.authorization] == nil {
            guard let consoleSessions else { return false }
            return try consoleSessions.admittedAdmin(request).map(admins.isLive) ?? false
        }
        let identity = try await identity(request, from: host, failures: failures)
        return try await Self.mapping { try await service.isModerator(channel, identity) }
    }

    /// Maps chat errors to HTTP.
    static func apiError(_ error: any Error) -> any Error {
        guard let error = error as? ChatError else { return error }
        switch error {
        case .invalid, .invalidName: return APIError(.badRequest, code: "invalid", error.description)
        case .nameTaken: return APIError(.conflict, code: "name_taken", error.description)
        case .roomNotFound, .messageNotFound, .viewerNotFound: return APIError(.notFound, code: "not_found", error.description)
        case .notModerator: return APIError(.forbidden, code: "forbidden", error.description)
        case .unauthenticated: return APIError(.unauthorized, code: "unauthorized", error.description)
        }
    }

    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch { throw apiError(error) }
    }
}
