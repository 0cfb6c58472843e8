import EventStore
import Foundation

/// A node joined the cluster (stream `node-ID`): where other nodes reach it, and its version.
public struct NodeStarted: DomainEvent, Equatable {
    public static let eventType = "NodeStarted"
    public var nodeID: String
    public var url: String
    public var version: String
    public var leaseSeconds: Double

    public init(nodeID: String, url: String, version: String, leaseSeconds: Double) {
        self.nodeID = nodeID
        self.url = url
        self.version = version
        self.leaseSeconds = leaseSeconds
    }
}

/// A node left on purpose (graceful shutdown): its sessions ended and its channels were given back.
public struct NodeStopped: DomainEvent, Equatable {
    public static let eventType = "NodeStopped"
    public var nodeID: String

    public init(nodeID: String) { self.nodeID = nodeID }
}

/// Another node found this node's lease expired: it is taken as gone, its live sessions are
/// ended (`StreamEnded(node_lost)`) and its channels can go live elsewhere.
public struct NodeLost: DomainEvent, Equatable {
    public static let eventType = "NodeLost"
    public var nodeID: String
    public var url: String
    /// When it last renewed its lease.
    public var lastSeen: Date
    /// Who noticed.
    public var by: String
    /// The sessions ended for it.
    public var sessions: [String]

    public init(nodeID: String, url: String, lastSeen: Date, by: String, sessions: [String]) {
        self.nodeID = nodeID
        self.url = url
        self.lastSeen = lastSeen
        self.by = by
        self.sessions = sessions
    }
}

extension EventRegistry {
    public mutating func registerClusterEvents() {
        register(NodeStarted.self)
        register(NodeStopped.self)
        register(NodeLost.self)
    }
}
