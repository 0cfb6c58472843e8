import Channels
import EventStore
import Ingest

/// Ends a channel's live session on this node when its stream key is revoked, whichever node or
/// CLI revoked it: follows `StreamKeyRevoked` from the log's head. The `StreamEnded(kicked)` names
/// the revocation as its cause and carries its correlation (and so the revoking request's).
struct RevocationWatcher: Sendable {
    let store: EventStore
    let sessions: SessionRegistry

    /// Runs until cancelled.
    func run() async {
        let head = (try? await store.headPosition()) ?? 0
        for await event in store.subscribe(after: head, filter: EventFilter(types: [StreamKeyRevoked.eventType])) {
            let revoked: StreamKeyRevoked
            do {
                revoked = try store.registry.decode(event, as: StreamKeyRevoked.self)
            } catch {
                DecodeFailures.report(
                    event, error, consumer: "key revocation watcher", consequence: "its channel's session is not kicked",
                    logger: store.logger)
                continue
            }
            _ = await sessions.kick(
                channelID: revoked.channelId.uuidString.lowercased(),
                metadata: .caused(by: event, actor: event.metadata.actor, reason: "stream key revoked"))
        }
    }
}
