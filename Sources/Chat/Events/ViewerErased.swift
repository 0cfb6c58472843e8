import EventStore
import Foundation

/// A viewer's data keys were destroyed (`streamd viewers erase`, `DELETE /v1/viewers/ID`): every
/// personal field sealed under them reads as erased from now on, in every read model and every
/// replay. Holds no personal data; the reason is in the metadata. Stream `chat.viewers`.
public struct ViewerErased: DomainEvent, Equatable {
    public static let eventType = "ViewerErased"
    public var userId: String
    /// The keys destroyed (none when the viewer had none left).
    public var keyIds: [UUID]

    public init(userId: String, keyIds: [UUID]) {
        self.userId = userId
        self.keyIds = keyIds
    }
}
