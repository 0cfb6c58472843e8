import EventStore
import Foundation
import Ingest
import Packager
import Transcode

/// The playback directory (`PlaybackDirectory`: the live streams a node packages, what
/// `/live/CHANNEL/…` serves) as an audited model, `playback`: per channel its session and the
/// renditions packaged, against the log's sessions that started and did not end, with the
/// renditions their `RenditionStarted` named.
///
/// The directory follows the media, not the log: a session is packaged a moment before its
/// `StreamStarted` commits and unregistered once its recording is finished, after `StreamEnded`.
/// Compare it when no session is starting or ending.
public enum PlaybackDirectoryAudit {
    public static let name = "playback"

    public static let model = InMemoryModelAudit(
        name: name, summary: "the live streams a node packages (channel, session, renditions)"
    ) { store, asOf, scope, _ in
        try await rebuild(store, asOf: asOf, scope: scope)
    }

    struct Stream: Encodable {
        var channel: String
        var channelId: String
        var sessionId: String
        var renditions: [String]
    }

    struct Value: Encodable {
        var streams: [Stream]
    }

    static func value(_ streams: [Stream], position: Int64, scope: [String]?) throws -> AuditedValue {
        let kept = streams.filter { scope?.contains($0.channel) ?? true }.sorted { $0.channel < $1.channel }
        return try AuditedValue(
            model: name, position: position, scope: scope, time: nil, canonical: ReadModelHash.canonical(Value(streams: kept)))
    }

    /// This node's directory; its position is the log's head read after it.
    public static func live(_ directory: PlaybackDirectory, store: EventStore) async throws -> AuditedValue {
        let streams = directory.all.map {
            Stream(
                channel: $0.identity.channelName, channelId: $0.identity.channelID, sessionId: $0.identity.sessionID,
                renditions: $0.renditionNames.sorted())
        }
        return try value(streams, position: try await store.headPosition(), scope: nil)
    }

    public static func rebuild(_ store: EventStore, asOf: Int64, scope: [String]?) async throws -> AuditedValue {
        var sessions: [String: Stream] = [:]
        var startedAt: [String: Int64] = [:]
        let registry = store.registry
        let filter = EventFilter(types: [StreamStarted.eventType, StreamEnded.eventType, RenditionStarted.eventType])
        try await InMemoryModelAudit.fold(store, upTo: asOf, filter: filter) { event in
            switch event.eventType {
            case StreamStarted.eventType:
                let started = try registry.decode(event, as: StreamStarted.self)
                sessions[started.sessionID] = Stream(
                    channel: started.channelName, channelId: started.channelID, sessionId: started.sessionID, renditions: [])
                startedAt[started.sessionID] = event.position
            case StreamEnded.eventType:
                sessions[try registry.decode(event, as: StreamEnded.self).sessionID] = nil
            case RenditionStarted.eventType:
                guard event.streamId.hasPrefix("session-") else { return }
                let id = String(event.streamId.dropFirst("session-".count))
                let started = try registry.decode(event, as: RenditionStarted.self)
                if var stream = sessions[id], !stream.renditions.contains(started.rendition) {
                    stream.renditions.append(started.rendition)
                    stream.renditions.sort()
                    sessions[id] = stream
                }
            default:
                break
            }
        }
        // One stream per channel, as the directory keys them: the latest session wins.
        var byChannel: [String: Stream] = [:]
        for stream in sessions.values.sorted(by: { startedAt[$0.sessionId, default: 0] < startedAt[$1.sessionId, default: 0] }) {
            byChannel[stream.channel] = stream
        }
        return try value(Array(byChannel.values), position: asOf, scope: scope)
    }
}
