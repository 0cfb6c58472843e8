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

/// A recording's files were deleted (retention, or an admin); its VOD URL answers 404 from now on.
public struct RecordingDeleted: DomainEvent, Hashable {
    public static let eventType = "RecordingDeleted"

    public var sessionID: String
    public var channelID: String
    /// Why: `retention (older than 7 days)`, `deleted by admin`.
    public var reason: String
    public var bytes: Int

    public init(sessionID: String, channelID: String, reason: String, bytes: Int) {
        self.sessionID = sessionID
        self.channelID = channelID
        self.reason = reason
        self.bytes = bytes
    }
}

extension EventRegistry {
    public mutating func registerPackagerEvents() {
        register(SegmentPublished.self)
        register(RecordingFinalized.self)
        register(RecordingDeleted.self)
        register(PlaybackConfigured.self)
    }
}
