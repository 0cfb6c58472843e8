import Channels
import EventStore
import Foundation
import Hummingbird
import Quality

/// Ingest alerts: a channel's rules (`/v1/channels/NAME/ingest-alerts`: GET returns them, the
/// defaults until set; PUT replaces them with a whole `IngestAlertRules` object and records
/// `IngestAlertRulesConfigured`) and a session's open alerts (`/v1/streams/ID/alerts`).
struct IngestAlertRoutes: Sendable {
    let channels: ChannelService
    let alerts: IngestAlertReadModel

    struct Settings: Encodable {
        var channel: String
        /// False while the channel runs on the defaults.
        var configured: Bool
        var rules: IngestAlertRules
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("channels/:name/ingest-alerts") { _, context in
            let name = try context.parameters.require("name")
            guard let channel = try await channels.channel(named: name) else { throw ChannelError.notFound(name) }
            let stored = try await alerts.rules(channelID: channel.id.uuidString.lowercased())
            return JSONBody.response(Settings(channel: name, configured: stored != nil, rules: stored ?? .default))
        }
        group.put("channels/:name/ingest-alerts") { request, context in
            let name = try context.parameters.require("name")
            let rules = try await JSONBody.decode(IngestAlertRules.self, from: request)
            guard let channel = try await channels.channel(named: name) else { throw ChannelError.notFound(name) }
            let problems = rules.problems
            guard problems.isEmpty else {
                throw APIError(
                    .badRequest, code: "invalid_alert_rules",
                    "\(problems.joined(separator: "; ")); fix them and PUT the whole object again (GET shows the current one)")
            }
            try await alerts.configure(
                channelID: channel.id.uuidString.lowercased(), channelName: channel.name, rules: rules,
                metadata: metadata(request, context, reason: nil))
            return JSONBody.response(Settings(channel: name, configured: true, rules: rules))
        }
        group.get("streams/:id/alerts") { _, context in
            let text = try context.parameters.require("id")
            guard let id = UUID(uuidString: text) else {
                throw APIError(.badRequest, code: "invalid_id", "\(text) is not a session id; list live sessions with GET /v1/streams")
            }
            guard let session = try await alerts.session(id.uuidString.lowercased()) else {
                throw APIError(
                    .notFound, code: "not_found",
                    "no session \(text) has been judged yet (a new session appears within a second); list live sessions with GET /v1/streams"
                )
            }
            return JSONBody.response(session)
        }
    }
}
