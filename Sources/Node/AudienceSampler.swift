import EventStore
import Foundation
import Gateway
import Logging

/// Puts each live session's audience into the log: every 10 s, an `AudienceSampled` for each
/// session whose viewers or players' QoE changed since its last one (so a quiet session costs
/// nothing). The figures come from the gateway's request counts, never one event per request.
struct AudienceSampler {
    let store: EventStore
    let pipeline: LivePipeline
    let audience: Audience
    let logger: Logger
    var interval: Duration = .seconds(10)

    func run() async {
        var last: [String: AudienceSampled] = [:]
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            var live: Set<String> = []
            for running in pipeline.sessions {
                let session = running.session
                let id = session.id.uuidString.lowercased()
                live.insert(id)
                let viewers = audience.viewers.viewers(session: id)?.viewers ?? 0
                let qoe = audience.players.summary(session: id).map {
                    PlaybackQoE(
                        players: $0.players, startupMedianMilliseconds: $0.startupMedianMs, startupP90Milliseconds: $0.startupP90Ms,
                        rebuffers: $0.rebuffers, rebufferRatio: $0.rebufferRatio, averageBitrateKbps: $0.averageBitrateKbps,
                        liveEdgeMilliseconds: $0.liveEdgeMs)
                }
                let sample = AudienceSampled(
                    sessionID: id, channelID: session.channelID, channelName: session.channelName, viewers: viewers, qoe: qoe)
                if last[id] == nil && viewers == 0 && qoe == nil { continue }
                guard last[id] != sample else { continue }
                do {
                    _ = try await store.append(
                        sample, to: session.streamID, metadata: EventMetadata(actor: .system("audience")), durability: .spoolable)
                    last[id] = sample
                } catch {
                    logger.warning("could not record the audience of \(session.channelName): \(error)")
                }
            }
            last = last.filter { live.contains($0.key) }
        }
    }
}
