import EventStore

/// The reason a moderator gave for a delete, time-out or ban. It may quote what the user wrote, so
/// it is sealed under the key of the user it is about and goes in the event's data, not in the
/// metadata (schema 2 of those events; schema 1 kept it in `metadata.reason`).
public struct ChatModerationReason: Codable, Sendable, Hashable {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }

    /// Sealed for `eventType` about `userId`.
    public static func context(_ eventType: String, userId: String) -> String { "\(eventType)|reason|\(userId)" }
}
