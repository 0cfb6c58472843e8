import Channels
import EventStore
import Foundation
import Ingest
import Logging
import Media
import ServiceLifecycle

/// This node among the nodes that share one database (docs/architecture.md, "Many nodes"): it
/// joins (`NodeStarted`), renews its lease in place, holds each channel it has live so that no
/// other node takes it live too, and ends the sessions of a node whose lease expired (`NodeLost`,
/// `StreamEnded(node_lost)`). On graceful shutdown it leaves (`NodeStopped`).
public final class ClusterService: Service, ChannelHolds, CustomStringConvertible {
    public struct Options: Sendable {
        /// How long a node counts as alive after its last renewal; it renews three times as often.
        public var lease: Duration = .seconds(15)
        public var version = "streamd"

        public init() {}
    }

    public let description = "cluster membership"
    public let leases: ClusterLeases
    let store: EventStore
    public let url: String
    let options: Options
    let logger: Logger
    /// This node's sessions: one waiting for its encoder ends when another node takes its channel.
    let sessions: SessionRegistry?

    public init(
        store: EventStore, nodeID: String, url: String, sessions: SessionRegistry? = nil, options: Options = Options(), logger: Logger
    ) {
        self.store = store
        self.sessions = sessions
        self.leases = ClusterLeases(store: store, nodeID: nodeID)
        self.url = url
        self.options = options
        self.logger = logger
    }

    public var nodeID: String { leases.nodeID }

    public func run() async throws {
        await join()
        await cancelWhenGracefulShutdown { await self.beat() }
        await leave()
        logger.info("stopped \(description)")
    }

    private func join() async {
        var delay = Duration.seconds(1)
        while !Task.isCancelled {
            do {
                try await leases.join(url: url, version: options.version, lease: options.lease)
                _ = try await store.append(
                    NodeStarted(nodeID: nodeID, url: url, version: options.version, leaseSeconds: options.lease.inSeconds),
                    to: "node-\(nodeID)", metadata: EventMetadata(actor: .system("node")))
                logger.info("joined the cluster as node \(nodeID) at \(url)")
                return
            } catch {
                logger.warning("could not join the cluster, retrying in \(delay): \(error)")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.lease / 3)
            }
        }
    }

    private func beat() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: options.lease / 3)
            if Task.isCancelled { return }
            do {
                if try await !leases.renew(lease: options.lease) {
                    logger.error(
                        "another node took this node as lost (its lease expired: the database was unreachable or the node was stalled); its sessions there were ended"
                    )
                }
                for lost in try await leases.takeExpired() { try await endSessions(of: lost) }
                if let sessions {
                    for (channel, node) in try await leases.takenElsewhere(await sessions.waitingChannels()) {
                        await sessions.endTakenOver(channelID: channel, by: node)
                    }
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("could not renew this node's lease: \(error)")
            }
        }
    }

    private func leave() async {
        do {
            try await leases.leave()
            _ = try await store.append(NodeStopped(nodeID: nodeID), to: "node-\(nodeID)", metadata: EventMetadata(actor: .system("node")))
        } catch {
            logger.warning("could not leave the cluster cleanly (its lease expires by itself): \(error)")
        }
    }

    /// Ends what a lost node had live: each session it started and did not end gets
    /// `StreamEnded(node_lost)` (expecting the stream's version, so a node that comes back and
    /// ends it itself wins), its channels are freed, and `NodeLost` names them.
    func endSessions(of lost: ClusterLeases.Node) async throws {
        let open = try await store.readModels.query(
            """
            SELECT s.stream_id, s.data::text, s.recorded_at,
                   (SELECT max(v.stream_version) FROM events v WHERE v.stream_id = s.stream_id)
            FROM events s
            WHERE s.event_type = \(StreamStarted.eventType) AND s.data->>'nodeID' = \(lost.nodeID)
              AND NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = s.stream_id AND e.event_type = \(StreamEnded.eventType))
            """)
        var sessions: [(stream: String, started: StreamStarted, at: Date, version: Int64)] = []
        for try await (stream, data, at, version) in open.decode((String, String, Date, Int64).self) {
            guard let started = try? EventCoding.decoder().decode(StreamStarted.self, from: Data(data.utf8)) else { continue }
            sessions.append((stream, started, at, version))
        }
        let metadata = EventMetadata(actor: .system("node:\(nodeID)"), reason: "node \(lost.nodeID) lost")
        var ended: [String] = []
        for session in sessions {
            let event = StreamEnded(
                sessionID: session.started.sessionID, channelID: session.started.channelID, reason: .nodeLost,
                detail:
                    "node \(lost.url) stopped renewing its lease at \(EventCoding.formatDate(lost.renewedAt)); ended by node \(url)",
                durationSeconds: max(0, lost.renewedAt.timeIntervalSince(session.at)), bytesReceived: 0, reconnects: 0)
            do {
                _ = try await store.append(
                    to: session.stream, expectedVersion: .exact(session.version), events: [try NewEvent(event, metadata: metadata)])
                ended.append(session.started.sessionID)
            } catch EventStoreError.wrongExpectedVersion {
                continue
            }
        }
        try await leases.releaseAll(of: lost.nodeID)
        _ = try await store.append(
            NodeLost(nodeID: lost.nodeID, url: lost.url, lastSeen: lost.renewedAt, by: nodeID, sessions: ended), to: "node-\(lost.nodeID)",
            metadata: metadata)
        logger.warning("node \(lost.nodeID) at \(lost.url) was lost (lease expired); ended its \(ended.count) live sessions")
    }

    // MARK: ChannelHolds

    public func take(channelID: String) async -> ChannelHold {
        do {
            switch try await leases.claim(channelID: channelID) {
            case .held(let token): return .held(token: token)
            case .heldElsewhere(_, let url): return .elsewhere(node: url)
            }
        } catch {
            logger.warning("could not take channel \(channelID) in the cluster; publishing anyway: \(error)")
            return .held(token: nil)
        }
    }

    public func holderElsewhere(channelID: String) async -> String? {
        (try? await leases.heldElsewhere(channelID: channelID)) ?? nil
    }

    public func waiting(channelID: String, token: String, _ waiting: Bool, order: Int64) async -> Bool {
        do { return try await leases.markWaiting(channelID: channelID, token: token, waiting: waiting, order: order) } catch {
            logger.warning("could not tell the cluster channel \(channelID) waits for its encoder: \(error)")
            return true
        }
    }

    public func giveBack(channelID: String, token: String) async {
        do { try await leases.release(channelID: channelID, token: token) } catch {
            logger.warning("could not give channel \(channelID) back in the cluster (it frees itself with this node's lease): \(error)")
        }
    }
}
