import EventStore

/// A live session's audience over the last interval, from its playback requests: concurrent
/// viewers and the players' experience as their CMCD reports add up. Appended by the node for
/// each live session at most every 10 s, and only when a figure changed: never one per request.
public struct AudienceSampled: DomainEvent, Hashable {
    public static let eventType = "AudienceSampled"

    public var sessionID: String
    public var channelID: String
    public var channelName: String
    /// Clients that fetched a playlist or media of the channel within the viewer window.
    public var viewers: Int
    public var qoe: PlaybackQoE?

    public init(sessionID: String, channelID: String, channelName: String, viewers: Int, qoe: PlaybackQoE? = nil) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.channelName = channelName
        self.viewers = viewers
        self.qoe = qoe
    }
}

/// What the players of one live session reported through CMCD, added up.
public struct PlaybackQoE: Sendable, Hashable, Codable {
    /// Players (CMCD session ids) seen so far.
    public var players: Int
    public var startupMedianMilliseconds: Int?
    public var startupP90Milliseconds: Int?
    /// Stalls the players reported (buffer starvation).
    public var rebuffers: Int
    /// Time stalled over time watched, 0 to 1.
    public var rebufferRatio: Double?
    public var averageBitrateKbps: Int?
    /// How far behind the live edge the players play, on average.
    public var liveEdgeMilliseconds: Int?

    public init(
        players: Int, startupMedianMilliseconds: Int? = nil, startupP90Milliseconds: Int? = nil, rebuffers: Int = 0,
        rebufferRatio: Double? = nil, averageBitrateKbps: Int? = nil, liveEdgeMilliseconds: Int? = nil
    ) {
        self.players = players
        self.startupMedianMilliseconds = startupMedianMilliseconds
        self.startupP90Milliseconds = startupP90Milliseconds
        self.rebuffers = rebuffers
        self.rebufferRatio = rebufferRatio
        self.averageBitrateKbps = averageBitrateKbps
        self.liveEdgeMilliseconds = liveEdgeMilliseconds
    }
}

extension EventRegistry {
    public mutating func registerGatewayEvents() {
        register(AudienceSampled.self)
        register(AdminAuthRejected.self)
        register(AdminAdded.self)
        register(AdminRevoked.self)
    }
}
