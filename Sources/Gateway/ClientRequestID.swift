import Crypto
import EventStore
import Foundation
import HTTPTypes
import Hummingbird

/// A request's id: the client's `X-Request-Id` when it is sane (1–128 printable ASCII characters,
/// no spaces), otherwise a new UUID. It is answered in the response's `X-Request-Id` and goes into
/// the metadata of every event the request causes, as `requestId` and, as a UUID, `correlationId`.
public struct ClientRequestID: Sendable, Hashable, CustomStringConvertible {
    public let value: String

    public static let header = HTTPField.Name("X-Request-Id")!
    public static let maximumLength = 128

    /// The client's id when it is sane, else nil.
    public init?(sanitizing presented: String?) {
        guard let presented, (1...Self.maximumLength).contains(presented.utf8.count),
            presented.utf8.allSatisfy({ (0x21...0x7E).contains($0) })
        else { return nil }
        value = presented
    }

    public init() {
        value = UUID().uuidString.lowercased()
    }

    /// The id itself when it is a UUID; otherwise a UUID made from its SHA-256 (RFC 9562 version
    /// 8), so the same id always gives the same correlation.
    public var correlationId: UUID {
        if let uuid = UUID(uuidString: value) { return uuid }
        var bytes = Array(SHA256.hash(data: Data(value.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
                bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }

    public var description: String { value }
}

/// Gives every request its `ClientRequestID` (in the context) and answers it, errors included.
/// Playback (`/live/…`, `/vod/…`) is left alone: it causes no event, and its fast paths answer
/// parts before the router, so a router-only header would make the two paths' answers differ.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/live/") || path.hasPrefix("/vod/") { return try await next(request, context) }
        let id = ClientRequestID(sanitizing: request.headers[ClientRequestID.header]) ?? ClientRequestID()
        var context = context
        context.requestID = id
        var response: Response
        do {
            let correlation = RequestCorrelation.Value(correlationId: id.correlationId, requestId: id.value)
            response = try await RequestCorrelation.$current.withValue(correlation) { try await next(request, context) }
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[ClientRequestID.header] = id.value
        return response
    }
}
