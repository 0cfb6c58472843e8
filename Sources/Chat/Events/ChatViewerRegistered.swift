import EventStore
import Foundation

/// Schema 2 seals the name under the viewer's key; schema 1 had it in plain text.
public struct ChatViewerRegistered: DomainEvent, Equatable {
    public static let eventType = "ChatViewerRegistered"
    public static let schemaVersion = 2

    public struct Personal: Codable, Sendable, Hashable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    public var userId: String
    public var personal: PersonalData<Personal>
    public var expiresAt: Date

    public init(userId: String, personal: PersonalData<Personal>, expiresAt: Date) {
        self.userId = userId
        self.personal = personal
        self.expiresAt = expiresAt
    }

    public static func context(userId: String) -> String { "\(eventType)|\(userId)" }
}
