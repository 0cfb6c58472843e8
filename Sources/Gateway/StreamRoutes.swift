import EventStore
import Foundation
import Hummingbird
import Ingest

/// `/v1/streams`: live sessions with their statistics, and kicking one.
struct StreamRoutes: Sendable {
    let sessions: SessionRegistry

    func register(on group: RouterGroup<BasicRequestContext>) {
        group.get("streams") { _, _ in
            JSONBody.response(["streams": await sessions.list()])
        }
        group.delete("streams/:id") { request, context in
            let text = try context.parameters.require("id")
            guard let id = UUID(uuidString: text) else {
                throw APIError(.badRequest, code: "invalid_id", "\(text) is not a session id; list live sessions with GET /v1/streams")
            }
            let reason = request.uri.queryParameters["reason"].map(String.init)
            guard await sessions.kick(sessionID: id, by: .admin, reason: reason) else {
                throw APIError(.notFound, code: "not_found", "no live session \(text); list live sessions with GET /v1/streams")
            }
            return Response(status: .noContent)
        }
    }
}
