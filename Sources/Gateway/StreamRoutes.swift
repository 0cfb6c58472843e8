import EventStore
import Foundation
import Hummingbird
import Ingest
import Quality

/// `/v1/streams`: live sessions with their statistics, and kicking one.
struct StreamRoutes: Sendable {
    let sessions: SessionRegistry
    var quality: QualityReadModel? = nil

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("streams") { _, _ in
            var streams = await sessions.list()
            // Health and quality come from the quality projection; a session it has not seen yet
            // (or a database hiccup) is listed without them rather than not at all.
            if let quality, let rows = try? await quality.sessions(streams.map { $0.id.uuidString.lowercased() }) {
                for index in streams.indices {
                    guard let row = rows[streams[index].id.uuidString.lowercased()] else { continue }
                    streams[index].health = row.health
                    streams[index].quality = row.state.rawValue
                }
            }
            return JSONBody.response(["streams": streams])
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
