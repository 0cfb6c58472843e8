import EventStore
import Foundation
import Hummingbird
import Ingest
import Quality

/// `/v1/streams`: live sessions with their statistics, audience and QoE, and kicking one.
struct StreamRoutes: Sendable {
    let sessions: SessionRegistry
    var quality: QualityReadModel? = nil
    var audience: Audience? = nil

    /// A listed session: the registry's summary with what the audience knows of it.
    struct Listed: Encodable {
        var stream: LiveSessionSummary
        /// Clients that fetched the session's playlists or media within the viewer window.
        var viewers: Int
        var peakViewers: Int
        /// The players' QoE from CMCD, once a player sent some.
        var qoe: QoESummary?

        enum CodingKeys: String, CodingKey { case viewers, peakViewers, qoe }

        func encode(to encoder: any Encoder) throws {
            try stream.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(viewers, forKey: .viewers)
            try container.encode(peakViewers, forKey: .peakViewers)
            try container.encodeIfPresent(qoe, forKey: .qoe)
        }
    }

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
            var watching: [String: ViewerTracker.SessionViewers] = [:]
            for entry in audience?.viewers.sessions() ?? [] { watching[entry.session] = entry }
            let listed = streams.map { stream in
                let id = stream.id.uuidString.lowercased()
                return Listed(
                    stream: stream, viewers: watching[id]?.viewers ?? 0, peakViewers: watching[id]?.peak ?? 0,
                    qoe: audience?.players.summary(session: id))
            }
            return JSONBody.response(["streams": listed])
        }
        group.delete("streams/:id") { request, context in
            let text = try context.parameters.require("id")
            guard let id = UUID(uuidString: text) else {
                throw APIError(.badRequest, code: "invalid_id", "\(text) is not a session id; list live sessions with GET /v1/streams")
            }
            let reason = request.uri.queryParameters["reason"].map(String.init)
            guard await sessions.kick(sessionID: id, metadata: context.eventMetadata(reason: reason)) else {
                throw APIError(.notFound, code: "not_found", "no live session \(text); list live sessions with GET /v1/streams")
            }
            return Response(status: .noContent)
        }
    }
}
