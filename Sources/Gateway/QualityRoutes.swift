import Channels
import EventStore
import Foundation
import Hummingbird
import Quality
import Transcode

/// `/v1/channels/NAME/quality`: a channel's quality thresholds. GET returns them (the defaults of
/// DESIGN.md §5 until set); PUT replaces them with a whole `QualityThresholds` object (GET, edit,
/// PUT) and records `QualitySettingsChanged`.
struct QualityRoutes: Sendable {
    let channels: ChannelService
    let quality: QualityReadModel

    struct Settings: Encodable {
        var channel: String
        /// False while the channel runs on the defaults.
        var configured: Bool
        var thresholds: QualityThresholds
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("channels/:name/quality") { _, context in
            let name = try context.parameters.require("name")
            guard let channel = try await channels.channel(named: name) else { throw ChannelError.notFound(name) }
            let stored = try await quality.thresholds(channelID: channel.id.uuidString.lowercased())
            return JSONBody.response(Settings(channel: name, configured: stored != nil, thresholds: stored ?? .default))
        }
        group.put("channels/:name/quality") { request, context in
            let name = try context.parameters.require("name")
            let thresholds = try await JSONBody.decode(QualityThresholds.self, from: request)
            guard let channel = try await channels.channel(named: name) else { throw ChannelError.notFound(name) }
            let problems = thresholds.problems
            guard problems.isEmpty else {
                throw APIError(
                    .badRequest, code: "invalid_thresholds", "\(problems.joined(separator: "; ")); fix them and PUT the whole object again")
            }
            try await quality.configure(
                channelID: channel.id.uuidString.lowercased(), channelName: channel.name, thresholds: thresholds,
                metadata: metadata(request, context, reason: nil))
            return JSONBody.response(Settings(channel: name, configured: true, thresholds: thresholds))
        }
    }
}
