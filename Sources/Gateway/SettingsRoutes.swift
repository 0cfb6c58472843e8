import Channels
import EventStore
import Foundation
import Hummingbird
import Packager
import Transcode

/// Per-channel settings (`/v1/channels/NAME/ladder`, `/playback`) and recordings
/// (`/v1/channels/NAME/recordings`). Settings are events on the channel's stream; a channel's
/// next live session reads the latest.
struct SettingsRoutes: Sendable {
    let channels: ChannelService
    let store: EventStore
    let recordings: RecordingCatalog?
    let playbackDefaults: PackagerOptions

    struct PlaybackSettings: Codable {
        var dvrWindowSeconds: Double?
        var recording: Bool?
        var partTarget: Double?
        /// In a PUT, absent keeps the channel's (three part targets when `partTarget` changes alone);
        /// in answers, the value in force.
        var partHoldBack: Double?

        init(_ event: PlaybackConfigured) {
            dvrWindowSeconds = event.dvrWindowSeconds
            recording = event.recording
            partTarget = event.partTarget
            partHoldBack = event.partHoldBack ?? 3 * event.partTarget
        }
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("channels/:name/ladder") { _, context in
            let name = try await existing(context)
            return JSONBody.response(try await latest(LadderConfigured.self, channel: name)?.ladder ?? Ladder.default)
        }
        group.put("channels/:name/ladder") { request, context in
            let name = try await existing(context)
            let ladder = try await JSONBody.decode(Ladder.self, from: request)
            try Self.validate(ladder)
            try await record(LadderConfigured(channel: name, ladder: ladder), channel: name, request, context)
            return JSONBody.response(ladder)
        }
        group.get("channels/:name/playback") { _, context in
            let name = try await existing(context)
            let current = try await latest(PlaybackConfigured.self, channel: name) ?? defaultPlayback(name)
            return JSONBody.response(PlaybackSettings(current))
        }
        group.put("channels/:name/playback") { request, context in
            let name = try await existing(context)
            let body = try await JSONBody.decode(PlaybackSettings.self, from: request)
            let current = try await latest(PlaybackConfigured.self, channel: name) ?? defaultPlayback(name)
            // A new part target without a hold-back takes three of the new parts.
            let holdBack = body.partHoldBack ?? (body.partTarget == nil ? current.partHoldBack : nil)
            let event = PlaybackConfigured(
                channel: name, dvrWindowSeconds: body.dvrWindowSeconds ?? current.dvrWindowSeconds,
                recording: body.recording ?? current.recording, partTarget: body.partTarget ?? current.partTarget,
                partHoldBack: holdBack)
            do {
                _ = try event.options.validated()
            } catch {
                throw APIError(.badRequest, code: "invalid_settings", "\(error)")
            }
            try await record(event, channel: name, request, context)
            return JSONBody.response(PlaybackSettings(event))
        }
        group.get("channels/:name/recordings") { _, context in
            let name = try context.parameters.require("name")
            guard let channel = try await channels.channel(named: name) else { throw ChannelError.notFound(name) }
            let list = try await recordings?.recordings(channelID: channel.id.uuidString.lowercased()) ?? []
            return JSONBody.response(["recordings": list])
        }
    }

    /// What a channel without settings of its own plays with: the node's defaults.
    private func defaultPlayback(_ channel: String) -> PlaybackConfigured {
        PlaybackConfigured(
            channel: channel, dvrWindowSeconds: playbackDefaults.dvrWindow, recording: playbackDefaults.recording,
            partTarget: playbackDefaults.partTarget, partHoldBack: playbackDefaults.partHoldBack)
    }

    private func existing(_ context: GatewayRequestContext) async throws -> String {
        let name = try context.parameters.require("name")
        guard try await channels.channel(named: name) != nil else { throw ChannelError.notFound(name) }
        return name
    }

    private func latest<E: DomainEvent>(_ type: E.Type, channel: String) async throws -> E? {
        let events = try await store.readStream("channel-\(channel)")
        guard let event = events.last(where: { $0.eventType == E.eventType }) else { return nil }
        return try store.registry.decode(event, as: E.self)
    }

    private func record(_ event: some DomainEvent, channel: String, _ request: Request, _ context: GatewayRequestContext) async throws {
        _ = try await store.append(
            to: "channel-\(channel)", expectedVersion: .any,
            events: [try NewEvent(event, metadata: metadata(request, context, reason: nil))])
    }

    static func validate(_ ladder: Ladder) throws {
        func bad(_ text: String) -> APIError { APIError(.badRequest, code: "invalid_ladder", text) }
        guard !ladder.rungs.isEmpty, ladder.rungs.count <= 8 else { throw bad("a ladder needs 1 to 8 rungs") }
        guard Set(ladder.rungs.map(\.name)).count == ladder.rungs.count else { throw bad("rung names must be unique") }
        for rung in ladder.rungs {
            guard rung.name != "audio", rung.name.range(of: "^[a-z0-9][a-z0-9_-]{0,31}$", options: .regularExpression) != nil else {
                throw bad("rung name \"\(rung.name)\" must be 1-32 lowercase letters, digits, - or _ (and not \"audio\")")
            }
            guard (144...2160).contains(rung.height), rung.height % 2 == 0 else {
                throw bad("rung \(rung.name): height must be even, 144…2160")
            }
            guard (1...60).contains(rung.frameRate) else { throw bad("rung \(rung.name): frame rate must be 1…60") }
            guard (100_000...50_000_000).contains(rung.bitrate) else {
                throw bad("rung \(rung.name): bitrate must be 100 kbit/s…50 Mbit/s")
            }
        }
        guard (1...10).contains(ladder.keyframeInterval) else { throw bad("keyframeInterval must be 1…10 seconds") }
        guard (1...10).contains(ladder.maxPassthroughKeyframeInterval) else {
            throw bad("maxPassthroughKeyframeInterval must be 1…10 seconds")
        }
    }
}
