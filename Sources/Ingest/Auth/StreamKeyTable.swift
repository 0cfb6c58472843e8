import Channels
import EventStore
import Foundation

/// Every stream key's state, folded from the channel events (`ChannelCreated`, `StreamKeyIssued`,
/// `StreamKeyRevoked`) exactly as the `channels` projection folds them into `stream_keys`, but in
/// memory: a pure value that `StreamKeyCache` keeps current from the log.
public struct StreamKeyTable: Sendable, Hashable {
    struct Key: Sendable, Hashable {
        var hash: [UInt8]
        var channelID: UUID
        var revokedAt: Date?
        var revokedBy: String?
        var revokeReason: String?
    }

    /// Keys by their SHA-256 in hex (the log's form), so a lookup never touches the key text.
    private var keys: [String: Key] = [:]
    private var hashByKeyID: [UUID: String] = [:]
    private var channelNames: [UUID: String] = [:]
    /// The log position of the last event applied.
    public private(set) var position: Int64 = 0

    public static let eventTypes = ChannelEvent.eventTypes
    public static let filter = EventFilter(streamPrefix: "channel-", types: eventTypes)

    public init() {}

    public var count: Int { keys.count }

    /// Applies one event (others are ignored); an event at or before `position` was seen already.
    public mutating func apply(_ event: RecordedEvent, registry: EventRegistry) throws {
        guard event.position > position else { return }
        position = event.position
        switch try ChannelEvent(event, registry: registry) {
        case .created(let created):
            channelNames[created.channelId] = created.name
        case .keyIssued(let issued):
            let hex = issued.keyHash.lowercased()
            let hash = StreamKey.hashBytes(hex: hex)
            guard hash.count == 32, channelNames[issued.channelId] != nil else { return }
            keys[hex] = Key(hash: hash, channelID: issued.channelId)
            hashByKeyID[issued.keyId] = hex
        case .keyRevoked(let revoked):
            guard let hex = hashByKeyID[revoked.keyId], keys[hex]?.revokedAt == nil else { return }
            keys[hex]?.revokedAt = event.recordedAt
            keys[hex]?.revokedBy = event.metadata.actor.description
            keys[hex]?.revokeReason = event.metadata.reason
        case nil:
            break
        }
    }

    /// What a presented key is; the stored hash is compared in constant time, as in the database path.
    public func check(_ text: String) -> StreamKeyCheck {
        let hash = StreamKey.hash(text)
        let hex = hash.map { String(format: "%02x", $0) }.joined()
        guard let key = keys[hex], StreamKey.constantTimeEqual(key.hash, hash), let channel = channelNames[key.channelID] else {
            return .unknown
        }
        if let at = key.revokedAt {
            return .revoked(channel: channel, at: at, by: key.revokedBy ?? "unknown", reason: key.revokeReason)
        }
        return .valid(channelId: key.channelID, channel: channel)
    }
}
