import EventStore
import Foundation
import Hummingbird
import Ingest
import Quality

/// `/v1/streams`: live sessions with their statistics, audience and QoE, and kicking one.
struct StreamRoutes: Sendable {
    let sessions: SessionRegistry
    var quality: QualityReadModel? = nil
    var alerts: IngestAlertReadModel? = nil
    var audience: Audience? = nil
    /// Sessions live on the cluster's other nodes come from the shared database.
    var store: EventStore? = nil

    /// A session live on another node: what the dashboard's read model and the node's lease say.
    struct Elsewhere: Encodable {
        var id: String
        var channelID: String
        var channelName: String
        var `protocol`: String
        var startedAt: Date
        var node: String
    }

    /// A listed session: the registry's summary with what the audience knows of it.
    struct Listed: Encodable {
        var stream: LiveSessionSummary
        /// Clients that fetched the session's playlists or media within the viewer window.
        var viewers: Int
        var peakViewers: Int
        /// The players' QoE from CMCD, once a player sent some.
        var qoe: QoESummary?
        /// Ingest alerts open now (`GET /v1/streams/ID/alerts`).
        var alerts: [IngestAlert]

        enum CodingKeys: String, CodingKey { case viewers, peakViewers, qoe, alerts }

        func encode(to encoder: any Encoder) throws {
            try stream.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(viewers, forKey: .viewers)
            try container.encode(peakViewers, forKey: .peakViewers)
            try container.encodeIfPresent(qoe, forKey: .qoe)
            try container.encode(alerts, forKey: .alerts)
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
            var open: [String: IngestAlertReadModel.Session] = [:]
            if let alerts, let rows = try? await alerts.sessions(streams.map { $0.id.uuidString.lowercased() }) { open = rows }
            var watching: [String: ViewerTracker.SessionViewers] = [:]
            for entry in audience?.viewers.sessions() ?? [] { watching[entry.session] = entry }
            let listed = streams.map { stream in
                let id = stream.id.uuidString.lowercased()
                return Listed(
                    stream: stream, viewers: watching[id]?.viewers ?? 0, peakViewers: watching[id]?.peak ?? 0,
                    qoe: audience?.players.summary(session: id), alerts: open[id]?.open ?? [])
            }
            let local = Set(streams.map { $0.id.uuidString.lowercased() })
            // A database hiccup lists this node's sessions alone rather than failing.
            var elsewhere: [Elsewhere] = []
            if let store, let found = try? await Self.elsewhere(store) { elsewhere = found.filter { !local.contains($0.id) } }
            return JSONBody.response(Listing(streams: listed, elsewhere: elsewhere))
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

    struct Listing: Encodable {
        var streams: [Listed]
        /// Live on the cluster's other nodes (by the node holding the channel).
        var elsewhere: [Elsewhere]
    }

    static func elsewhere(_ store: EventStore) async throws -> [Elsewhere] {
        let rows = try await store.readModels.query(
            """
            SELECT d.session_id, d.channel_id, d.channel_name, d.protocol, d.started_at, n.url
            FROM dashboard_sessions d
            JOIN channel_leases c ON c.channel_id = d.channel_id
            JOIN node_leases n ON n.node_id = c.node_id AND n.state = 'live' AND n.expires_at > now()
            WHERE d.live ORDER BY d.started_at
            """)
        var found: [Elsewhere] = []
        for try await (id, channel, name, transport, started, node) in rows.decode((String, String, String, String, Date, String).self) {
            found.append(Elsewhere(id: id, channelID: channel, channelName: name, protocol: transport, startedAt: started, node: node))
        }
        return found
    }
}
