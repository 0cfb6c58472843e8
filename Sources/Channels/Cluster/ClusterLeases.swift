import EventStore
import Foundation
import PostgresNIO

/// The cluster's shared state (migrations/0017): each node's lease, renewed in place, and the
/// channel each node holds live. Every operation is one statement, correct however many nodes run
/// it at once; the database's clock decides expiry, so nodes' clocks need not agree.
public struct ClusterLeases: Sendable {
    public struct Node: Sendable, Hashable, Codable {
        public var nodeID: String
        public var url: String
        public var version: String
        public var startedAt: Date
        public var renewedAt: Date
        public var expiresAt: Date
        /// live, stopped or lost.
        public var state: String
        /// Live and its lease not expired, by the database's clock when read.
        public var isLive: Bool
    }

    /// A channel's live lease: this node holds it now, or another live node does.
    public enum Claim: Sendable, Hashable {
        /// `token` gives this take back (`release`).
        case held(token: String)
        case heldElsewhere(nodeID: String, url: String)
    }

    let database: ReadModelDatabase
    public let nodeID: String

    public init(store: EventStore, nodeID: String) {
        self.database = store.readModels
        self.nodeID = nodeID
    }

    /// Takes (or takes back) this node's lease; a fresh process holds no channel yet.
    public func join(url: String, version: String, lease: Duration) async throws {
        let seconds = lease.inSeconds
        try await database.query(
            """
            INSERT INTO node_leases (node_id, url, version, started_at, renewed_at, expires_at, state)
            VALUES (\(nodeID), \(url), \(version), now(), now(), now() + make_interval(secs => \(seconds)), 'live')
            ON CONFLICT (node_id) DO UPDATE SET url = EXCLUDED.url, version = EXCLUDED.version, started_at = now(),
                renewed_at = now(), expires_at = EXCLUDED.expires_at, state = 'live'
            """)
        try await database.query("DELETE FROM channel_leases WHERE node_id = \(nodeID)")
    }

    /// Extends the lease; false when another node has already taken this one as lost (its
    /// sessions were ended elsewhere), in which case the lease is live again from now on.
    public func renew(lease: Duration) async throws -> Bool {
        let rows = try await database.query(
            """
            UPDATE node_leases n SET renewed_at = now(), expires_at = now() + make_interval(secs => \(lease.inSeconds)), state = 'live'
            FROM node_leases before WHERE n.node_id = \(nodeID) AND before.node_id = n.node_id
            RETURNING before.state
            """)
        for try await state in rows.decode(String.self) { return state == "live" }
        return false
    }

    /// Says goodbye: the lease ends now and the node's channels are free.
    public func leave() async throws {
        try await database.query("UPDATE node_leases SET state = 'stopped', expires_at = now() WHERE node_id = \(nodeID)")
        try await database.query("DELETE FROM channel_leases WHERE node_id = \(nodeID)")
    }

    /// Takes `channelID` for this node unless a live node holds it.
    public func claim(channelID: String) async throws -> Claim {
        let token = UUID().uuidString.lowercased()
        let taken = try await database.query(
            """
            INSERT INTO channel_leases (channel_id, node_id, token) VALUES (\(channelID), \(nodeID), \(token))
            ON CONFLICT (channel_id) DO UPDATE SET node_id = EXCLUDED.node_id, token = EXCLUDED.token, waiting = false,
                claimed_at = clock_timestamp()
            WHERE channel_leases.node_id = EXCLUDED.node_id OR channel_leases.waiting
               OR NOT EXISTS (SELECT 1 FROM node_leases n WHERE n.node_id = channel_leases.node_id
                              AND n.state = 'live' AND n.expires_at > now())
            RETURNING token
            """)
        for try await held in taken.decode(String.self) { return .held(token: held) }
        let holder = try await database.query(
            """
            SELECT c.node_id, coalesce(n.url, '') FROM channel_leases c LEFT JOIN node_leases n ON n.node_id = c.node_id
            WHERE c.channel_id = \(channelID)
            """)
        for try await (node, url) in holder.decode((String, String).self) { return .heldElsewhere(nodeID: node, url: url) }
        // Given back between the two statements: try once more.
        return try await claim(channelID: channelID)
    }

    /// Says whether the session holding `channelID` with `token` waits for its encoder (another
    /// node may then take the channel); false when this take no longer stands (taken over).
    /// `order` grows with each change this node makes: a change that arrives after a later one is
    /// ignored.
    public func markWaiting(channelID: String, token: String, waiting: Bool, order: Int64) async throws -> Bool {
        let rows = try await database.query(
            """
            UPDATE channel_leases SET waiting = CASE WHEN waiting_order < \(order) THEN \(waiting) ELSE waiting END,
                waiting_order = GREATEST(waiting_order, \(order))
            WHERE channel_id = \(channelID) AND node_id = \(nodeID) AND token = \(token) RETURNING token
            """)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    /// Of `channels` (by id), those another node holds now.
    public func takenElsewhere(_ channels: [String]) async throws -> [String: String] {
        guard !channels.isEmpty else { return [:] }
        let rows = try await database.query(
            """
            SELECT c.channel_id, coalesce(n.url, c.node_id) FROM channel_leases c LEFT JOIN node_leases n ON n.node_id = c.node_id
            WHERE c.channel_id = ANY(\(channels)) AND c.node_id <> \(nodeID)
            """)
        var taken: [String: String] = [:]
        for try await (channel, node) in rows.decode((String, String).self) { taken[channel] = node }
        return taken
    }

    /// Gives back the take of `channelID` that returned `token`, if it still stands.
    public func release(channelID: String, token: String) async throws {
        try await database.query(
            "DELETE FROM channel_leases WHERE channel_id = \(channelID) AND node_id = \(nodeID) AND token = \(token)")
    }

    /// Marks every other node whose lease expired as lost and returns them: exactly one caller
    /// gets each, however many nodes look at once.
    public func takeExpired() async throws -> [Node] {
        try await nodes(
            """
            UPDATE node_leases SET state = 'lost' WHERE state = 'live' AND expires_at < now() AND node_id <> \(nodeID)
            RETURNING node_id, url, version, started_at, renewed_at, expires_at, state, false
            """)
    }

    /// Frees the channels a node held (once it is taken as lost).
    public func releaseAll(of node: String) async throws {
        try await database.query("DELETE FROM channel_leases WHERE node_id = \(node)")
    }

    /// Every node that ever joined, live ones first.
    public func nodes() async throws -> [Node] {
        try await nodes(
            """
            SELECT node_id, url, version, started_at, renewed_at, expires_at, state, state = 'live' AND expires_at > now()
            FROM node_leases ORDER BY (state = 'live' AND expires_at > now()) DESC, started_at
            """)
    }

    /// The URL of the live node other than this one that holds `channelID`, if any.
    public func heldElsewhere(channelID: String) async throws -> String? {
        let rows = try await database.query(
            """
            SELECT n.url FROM channel_leases c JOIN node_leases n ON n.node_id = c.node_id
            WHERE c.channel_id = \(channelID) AND c.node_id <> \(nodeID) AND n.state = 'live' AND n.expires_at > now()
            """)
        for try await url in rows.decode(String.self) { return url }
        return nil
    }

    private func nodes(_ query: PostgresQuery) async throws -> [Node] {
        var nodes: [Node] = []
        for try await (id, url, version, started, renewed, expires, state, live) in try await database.query(query).decode(
            (String, String, String, Date, Date, Date, String, Bool).self)
        {
            nodes.append(
                Node(
                    nodeID: id, url: url, version: version, startedAt: started, renewedAt: renewed, expiresAt: expires, state: state,
                    isLive: live))
        }
        return nodes
    }
}

extension Duration {
    fileprivate var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
