import Channels
import EventStore
import Foundation
import Hummingbird

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
