import EventStore
import Foundation

/// A message as clients see it (socket frames, backlog, history).
public struct ChatMessageView: Codable, Sendable, Hashable {
    /// Why a message is no longer shown to the public. Only the admin and the room's moderators
    /// get removed messages, with this marker; everyone else never gets them.
    public struct Removal: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable {
            /// A moderator deleted the message.
            case deleted
            /// Its author's ban hides it (`ChatRoomState.banHideWindow`).
            case ban
        }

        public var kind: Kind
        /// The actor of the delete or ban event, as the log has it (`admin`, `moderator:ID`).
        public var by: String
        public var at: Date
        /// The log position of the delete or ban.
        public var position: Int64
        /// The reason the moderator gave, if any.
        public var reason: String?

        public init(kind: Kind, by: String, at: Date, position: Int64, reason: String?) {
            self.kind = kind
            self.by = by
            self.at = at
            self.position = position
            self.reason = reason
        }
    }

    public var id: UUID
    public var userId: String
    public var name: String
    public var text: String
    /// The log's `recordedAt`: the wall clock the stream's EXT-X-PROGRAM-DATE-TIME uses.
    public var sentAt: Date
    public var position: Int64
    /// Set only in the full record (admin, moderators); absent from every public read.
    public var removed: Removal?
    /// True when its author was erased: `name` and `text` are then `erasedMarker`.
    public var erased: Bool?

    /// What an erased message shows for its name and text.
    public static let erasedMarker = "[erased]"

    public init(
        id: UUID, userId: String, name: String, text: String, sentAt: Date, position: Int64, removed: Removal? = nil, erased: Bool? = nil
    ) {
        self.id = id
        self.userId = userId
        self.name = name
        self.text = text
        self.sentAt = sentAt
        self.position = position
        self.removed = removed
        self.erased = erased
    }
}
