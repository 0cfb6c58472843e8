import EventStore
import Foundation
import Hummingbird
import Ingest
import Logging

/// The running platform on one node: channels, RTMP ingest wired to the event log, and the HTTP
/// gateway over them. `streamd serve` runs one; tests run one against a throwaway database.
public final class Platform: Sendable {
    public let store: EventStore
    public let channels: ChannelService
    public let rtmp: RTMPServer
    /// SRT ingest; shares `rtmp.registry`, so `rtmp.sessions` carries both protocols' sessions.
    public let srt: SRTServer
    public let gateway: Gateway
    public let rtmpPort: Int
    public let srtPort: Int
    private let tasks: [Task<Void, Never>]

    /// Starts ingest (binding `rtmpPort`; 0 picks a free one) and the log watchers. The HTTP
    /// application is `gateway.application(logger:)`, run by the caller's service group.
    public init(
        store: EventStore, configuration: GatewayConfiguration, ingest: IngestConfiguration = IngestConfiguration(),
        srt srtConfiguration: SRTConfiguration = SRTConfiguration(), logger: Logger
    ) async throws {
        self.store = store
        let channels = ChannelService(store: store)
        self.channels = channels
        let rtmp = RTMPServer(
            configuration: ingest, authorizer: ChannelKeyAuthorizer(channels: channels),
            eventSink: { stream, event, metadata in
                do {
                    _ = try await store.append(to: stream, expectedVersion: .any, events: [try NewEvent(event, metadata: metadata)])
                } catch {
                    logger.error("could not record \(type(of: event).eventType) for \(stream): \(error)")
                }
            },
            logger: logger)
        do {
            self.rtmpPort = try await rtmp.start(host: configuration.host, port: configuration.rtmpPort)
        } catch {
            await channels.shutdown()
            throw PlatformError("cannot listen for RTMP on \(configuration.host):\(configuration.rtmpPort) (\(error)); choose another --rtmp-port")
        }
        self.rtmp = rtmp
        let srt = SRTServer(configuration: srtConfiguration, sharingSessionsWith: rtmp, logger: logger)
        do {
            self.srtPort = try srt.start(host: configuration.host, port: configuration.srtPort)
        } catch {
            await rtmp.shutdown()
            await channels.shutdown()
            throw PlatformError("\(error)")
        }
        self.srt = srt
        var shown = configuration
        shown.rtmpPort = rtmpPort
        shown.srtPort = srtPort
        self.gateway = Gateway(configuration: shown, store: store, channels: channels, sessions: rtmp.registry)
        self.tasks = [
            // Until transcoding and packaging consume sessions, their media is drained so that
            // encoders are never held up by backpressure.
            Task {
                for await session in rtmp.sessions {
                    Task { for await _ in session.media {} }
                }
            },
            // A revoked key ends its live session, whichever node or CLI revoked it.
            Task {
                let head = (try? await store.headPosition()) ?? 0
                for await event in store.subscribe(after: head, filter: EventFilter(types: [StreamKeyRevoked.eventType])) {
                    guard let revoked = try? store.registry.decode(event, as: StreamKeyRevoked.self) else { continue }
                    _ = await rtmp.registry.kick(
                        channelID: revoked.channelId.uuidString.lowercased(), by: event.metadata.actor, reason: "stream key revoked")
                }
            },
        ]
    }

    /// Ends live sessions (each with `StreamEnded`), then stops the watchers and projections.
    public func shutdown() async {
        await srt.shutdown()
        await rtmp.shutdown()
        for task in tasks { task.cancel() }
        await channels.shutdown()
    }
}

extension EventRegistry {
    /// Every event type this build knows.
    public static var platform: EventRegistry {
        var registry = EventRegistry()
        registry.registerChannelEvents()
        registry.registerIngestEvents()
        return registry
    }
}

public struct PlatformError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
