import EventStore

/// The encoder reconnected within the grace window; the session continues after a discontinuity.
public struct StreamResumed: DomainEvent, Hashable {
    public static let eventType = "StreamResumed"

    public var sessionID: String
    public var channelID: String
    public var remoteAddress: String
    public var gapMilliseconds: Int

    public init(sessionID: String, channelID: String, remoteAddress: String, gapMilliseconds: Int) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.remoteAddress = remoteAddress
        self.gapMilliseconds = gapMilliseconds
    }
}
