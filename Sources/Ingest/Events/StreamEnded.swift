import EventStore

/// A live session ended.
public struct StreamEnded: DomainEvent, Hashable {
    public static let eventType = "StreamEnded"

    public enum Reason: String, Codable, Sendable, Hashable {
        /// The encoder disconnected and did not come back within the grace window.
        case encoderClosed = "encoder_closed"
        /// No media for the idle timeout.
        case timeout
        case kicked
        case protocolError = "protocol_error"
        /// The server shut down.
        case shutdown
        /// The node stopped without ending the session (killed or crashed); recorded when a node
        /// next starts and finds the session's recording left open.
        case interrupted
        /// Its node's cluster lease expired (killed, cut off); another node ended it.
        case nodeLost = "node_lost"
    }

    public var sessionID: String
    public var channelID: String
    public var reason: Reason
    public var detail: String?
    public var durationSeconds: Double
    public var bytesReceived: UInt64
    public var reconnects: Int

    public init(
        sessionID: String, channelID: String, reason: Reason, detail: String?, durationSeconds: Double,
        bytesReceived: UInt64, reconnects: Int
    ) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.reason = reason
        self.detail = detail
        self.durationSeconds = durationSeconds
        self.bytesReceived = bytesReceived
        self.reconnects = reconnects
    }
}
