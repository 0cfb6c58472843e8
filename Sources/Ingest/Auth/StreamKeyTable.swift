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

    public static let eventTypes = [ChannelCreated.eventType, StreamKeyIssued.eventType, StreamKeyRevoked.eventType]
    public static let filter = EventFilter(streamPrefix: "channel-", types: eventTypes)

    public init() {}

    public var count: Int { keys.count }

    /// Applies one event (others are ignored); an event at or before `position` was seen already.
    public mutating func apply(_ event: RecordedEvent, registry: EventRegistry) throws {
        guard event.position > position else { return }
        position = event.position
        switch event.eventType {
        case ChannelCreated.eventType:
            let created = try registry.decode(event, as: ChannelCreated.self)
            channelNames[created.channelId] = created.name
        case StreamKeyIssued.eventType:
            let issued = try registry.decode(event, as: StreamKeyIssued.self)
            let hex = issued.keyHash.lowercased()
            let hash = Self.bytes(hex: hex)
            guard hash.count == 32, channelNames[issued.channelId] != nil else { return }
            keys[hex] = Key(hash: hash, channelID: issued.channelId)
            hashByKeyID[issued.keyId] = hex
        case StreamKeyRevoked.eventType:
            let revoked = try registry.decode(event, as: StreamKeyRevoked.self)
            guard let hex = hashByKeyID[revoked.keyId], keys[hex]?.revokedAt == nil else { return }
            keys[hex]?.revokedAt = event.recordedAt
            keys[hex]?.revokedBy = event.metadata.actor.description
            keys[hex]?.revokeReason = event.metadata.reason
        default:
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

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return [] }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index + 1 < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return [] }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func value(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
