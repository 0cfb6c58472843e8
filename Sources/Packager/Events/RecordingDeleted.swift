import EventStore
import Foundation

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
