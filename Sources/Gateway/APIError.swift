import Channels
import EventStore
import Foundation
import Hummingbird

/// Every error a client sees: a status and `{"error":{"code","message"}}`, where the message says
/// what happened and what to do.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    /// When to come back, for refusals of a limit (`Retry-After`, whole seconds).
    public var retryAfterSeconds: Int?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONBody.response(["error": ["code": code, "message": message]], status: status)
        if let retryAfterSeconds { response.headers[.retryAfter] = "\(retryAfterSeconds)" }
        return response
    }

    /// Maps domain errors to HTTP.
    public static func from(_ error: any Error) -> APIError? {
        switch error {
        case let error as APIError: return error
        case let error as ChannelError:
            switch error {
            case .invalidName: return APIError(.badRequest, code: "invalid_name", error.description)
            case .duplicate: return APIError(.conflict, code: "duplicate", error.description)
            case .notFound: return APIError(.notFound, code: "not_found", error.description)
            case .noActiveKey: return APIError(.conflict, code: "no_active_key", error.description)
            }
        case let error as AdminError:
            switch error {
            case .invalidName: return APIError(.badRequest, code: "invalid_name", error.description)
            case .exists, .alreadyRevoked: return APIError(.conflict, code: "duplicate", error.description)
            case .notFound: return APIError(.notFound, code: "not_found", error.description)
            }
        case let error as EventStoreError:
            switch error {
            case .wrongExpectedVersion: return APIError(.conflict, code: "concurrent_change", "\(error.description)")
            case .unavailable: return APIError(.serviceUnavailable, code: "database_unavailable", error.description)
            case .invalidStreamId: return APIError(.badRequest, code: "invalid_stream", error.description)
            default: return APIError(.internalServerError, code: "event_store", error.description)
            }
        default: return nil
        }
    }
}
