import EventStore
import Foundation

/// A session's recording is complete: its playlists end with `EXT-X-ENDLIST` and it plays as VOD at
/// `/vod/SESSION/index.m3u8`.
public struct RecordingFinalized: DomainEvent, Hashable {
    public static let eventType = "RecordingFinalized"

    public enum Reason: String, Codable, Sendable, Hashable {
        /// The stream ended (`StreamEnded`) while this node packaged it.
        case streamEnded = "stream ended"
        /// The node stopped mid-stream; found at the next start and finalized with what reached disk.
        case recoveredAfterRestart = "recovered after restart"
    }

    public var sessionID: String
    public var channelID: String
    public var channelName: String
    public var reason: Reason
    /// Segments per rendition.
    public var segments: [String: Int]
    /// Seconds of the longest rendition.
    public var duration: Double

    public init(sessionID: String, channelID: String, channelName: String, reason: Reason, segments: [String: Int], duration: Double) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.channelName = channelName
        self.reason = reason
        self.segments = segments
        self.duration = duration
    }
}
