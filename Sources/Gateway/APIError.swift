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

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(["error": ["code": code, "message": message]], status: status)
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

/// Turns domain errors thrown by handlers into `APIError` responses.
struct ErrorMappingMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            if let mapped = APIError.from(error) { throw mapped }
            context.logger.error("request failed: \(String(reflecting: error))")
            throw APIError(.internalServerError, code: "internal", "the server failed to handle this request; see its log")
        }
    }
}

enum JSONBody {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? EventCoding.encoder().encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int = 64 * 1024) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, code: "too_large", "the request body is over \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer: buffer))
        } catch {
            throw APIError(.badRequest, code: "invalid_json", "the request body is not the expected JSON: \(Self.explain(error))")
        }
    }

    private static func explain(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field \"\(key.stringValue)\""
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "wrong type at \"\(context.codingPath.map(\.stringValue).joined(separator: "."))\""
        case DecodingError.dataCorrupted: "malformed JSON"
        default: "\(error)"
        }
    }
}

/// A gateway that cannot start (an unreadable certificate, an unwritable secret), with what to do.
public struct GatewayError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
