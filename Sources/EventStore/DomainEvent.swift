import Foundation

/// A fact the platform records. Conformers are plain `Codable` structs named in the past tense
/// (`StreamStarted`, `ChatUserBanned`); the stored JSON is the struct's `Codable` form.
///
/// `eventType` is the stable name written to the log: never rename it. When the shape changes,
/// bump `schemaVersion` and register an upcaster from the older version (see `EventRegistry`).
public protocol DomainEvent: Codable, Sendable {
    static var eventType: String { get }
    static var schemaVersion: Int { get }
}

extension DomainEvent {
    public static var schemaVersion: Int { 1 }
}
