import EventStore

/// A live session began: its first coded frame arrived after an accepted publish.
public struct StreamStarted: DomainEvent, Hashable {
    public static let eventType = "StreamStarted"

    public var sessionID: String
    public var channelID: String
    public var channelName: String
    public var `protocol`: String
    public var remoteAddress: String
    public var video: StreamDescription.Video?
    public var audio: StreamDescription.Audio?
    public var encoder: String?
    /// The node the session is live on (a cluster's `--node-url` names it); nil before clusters.
    public var nodeID: String?

    public init(
        sessionID: String, channelID: String, channelName: String, protocol: String = "rtmp",
        remoteAddress: String, description: StreamDescription, nodeID: String? = nil
    ) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.channelName = channelName
        self.protocol = `protocol`
        self.remoteAddress = remoteAddress
        self.video = description.video
        self.audio = description.audio
        self.encoder = description.encoder
        self.nodeID = nodeID
    }
}
