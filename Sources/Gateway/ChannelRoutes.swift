import Channels
import EventStore
import Foundation
import Hummingbird

/// `/v1/channels`: create, list, rotate and revoke keys.
struct ChannelRoutes: Sendable {
    let channels: ChannelService
    let configuration: GatewayConfiguration

    struct CreateRequest: Decodable { var name: String }

    struct ChannelWithKey: Encodable {
        var id: UUID
        var name: String
        var streamKey: String
        var rtmpURL: String
        /// When the node serves RTMPS.
        var rtmpsURL: String?
        var srtURL: String
        var playbackURL: String
    }

    struct ChannelSummary: Encodable {
        var id: UUID
        var name: String
        var createdAt: Date
        var createdBy: String
        var hasActiveKey: Bool
        var playbackURL: String
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.post("channels") { request, context in
            let body = try await JSONBody.decode(CreateRequest.self, from: request)
            let (channel, key) = try await channels.create(name: body.name, metadata: metadata(request, context, reason: nil))
            return JSONBody.response(withKey(channel.id, channel.name, key, request), status: .created)
        }
        group.get("channels") { request, _ in
            let list = try await channels.list().map {
                ChannelSummary(
                    id: $0.id, name: $0.name, createdAt: $0.createdAt, createdBy: $0.createdBy,
                    hasActiveKey: $0.hasActiveKey, playbackURL: "/live/\($0.name)/index.m3u8")
            }
            return JSONBody.response(["channels": list])
        }
        group.get("channels/:name") { request, context in
            let name = try context.parameters.require("name")
            guard let channel = try await channels.channel(named: name) else { throw ChannelError.notFound(name) }
            return JSONBody.response(
                ChannelSummary(
                    id: channel.id, name: channel.name, createdAt: channel.createdAt, createdBy: channel.createdBy,
                    hasActiveKey: channel.hasActiveKey, playbackURL: "/live/\(channel.name)/index.m3u8"))
        }
        group.post("channels/:name/key") { request, context in
            let name = try context.parameters.require("name")
            let key = try await channels.rotateKey(
                name: name, metadata: metadata(request, context, reason: request.uri.queryParameters["reason"].map(String.init)))
            guard let channel = try await channels.channel(named: name) else { throw ChannelError.notFound(name) }
            return JSONBody.response(withKey(channel.id, name, key, request))
        }
        group.delete("channels/:name/key") { request, context in
            let name = try context.parameters.require("name")
            try await channels.revokeKey(
                name: name, metadata: metadata(request, context, reason: request.uri.queryParameters["reason"].map(String.init)))
            return Response(status: .noContent)
        }
    }

    private func withKey(_ id: UUID, _ name: String, _ key: StreamKey, _ request: Request) -> ChannelWithKey {
        let host = configuration.publicHost ?? Self.hostName(request.head.authority) ?? "localhost"
        return ChannelWithKey(
            id: id, name: name, streamKey: key.text,
            rtmpURL: "rtmp://\(host):\(configuration.rtmpPort)/live/\(key.text)",
            rtmpsURL: configuration.rtmpsPort.map { "rtmps://\(host):\($0)/live/\(key.text)" },
            srtURL: "srt://\(host):\(configuration.srtPort)?streamid=#!::r=live/\(key.text),m=publish",
            playbackURL: "/live/\(name)/index.m3u8")
    }

    static func hostName(_ authority: String?) -> String? {
        guard let authority, !authority.isEmpty else { return nil }
        if authority.hasPrefix("["), let end = authority.firstIndex(of: "]") { return String(authority[...end]) }
        return authority.split(separator: ":").first.map(String.init)
    }
}

/// Admin actions are recorded as the admin who sent them, with the request's id and correlation.
func metadata(_ request: Request, _ context: GatewayRequestContext, reason: String?) -> EventMetadata {
    context.eventMetadata(reason: reason)
}
