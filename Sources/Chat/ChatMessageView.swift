import EventStore
import Foundation

/// A message as clients see it (socket frames, backlog, history).
public struct ChatMessageView: Codable, Sendable, Hashable {
    public var id: UUID
    public var userId: String
    public var name: String
    public var text: String
    /// The log's `recordedAt`: the wall clock the stream's EXT-X-PROGRAM-DATE-TIME uses.
    public var sentAt: Date
    public var position: Int64

    public init(id: UUID, userId: String, name: String, text: String, sentAt: Date, position: Int64) {
        self.id = id
        self.userId = userId
        self.name = name
        self.text = text
        self.sentAt = sentAt
        self.position = position
    }
}
