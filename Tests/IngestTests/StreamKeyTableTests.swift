import Channels
import EventStore
import Foundation
import Testing

@testable import Ingest

/// The in-memory key table SRT's listen callback reads: the channel events folded as the
/// `channels` projection folds them.
@Suite struct StreamKeyTableTests {
    final class Log {
        var events: [RecordedEvent] = []
        let registry: EventRegistry = {
            var registry = EventRegistry()
            registry.registerChannelEvents()
            return registry
        }()

        func append<E: DomainEvent>(_ event: E, stream: String, metadata: EventMetadata = EventMetadata(actor: .admin)) throws {
            let data = try JSONEncoder().encode(event)
            events.append(
                RecordedEvent(
                    position: Int64(events.count + 1), streamId: stream, streamVersion: 1, eventId: UUID(), eventType: E.eventType,
                    schemaVersion: E.schemaVersion, data: data, metadata: metadata,
                    recordedAt: Date(timeIntervalSince1970: 1_800_000_000 + Double(events.count)), hash: []))
        }

        func table() throws -> StreamKeyTable {
            var table = StreamKeyTable()
            for event in events { try table.apply(event, registry: registry) }
            return table
        }
    }

    @Test func issuedRotatedAndRevokedKeys() throws {
        let log = Log()
        let channel = UUID()
        let (first, second) = (StreamKey.generate(), StreamKey.generate())
        let (firstID, secondID) = (UUID(), UUID())
        try log.append(ChannelCreated(channelId: channel, name: "demo"), stream: "channel-demo")
        try log.append(
            StreamKeyIssued(channelId: channel, keyId: firstID, keyHash: first.hashHex, keyHint: first.hint), stream: "channel-demo")
        #expect(try log.table().check(first.text) == .valid(channelId: channel, channel: "demo"))
        #expect(try log.table().check(second.text) == .unknown)
        #expect(try log.table().check("") == .unknown)

        // Rotation: the old key is revoked (with who and why), the new one valid.
        try log.append(
            StreamKeyRevoked(channelId: channel, keyId: firstID), stream: "channel-demo",
            metadata: EventMetadata(actor: .admin, reason: "rotated"))
        try log.append(
            StreamKeyIssued(channelId: channel, keyId: secondID, keyHash: second.hashHex, keyHint: second.hint), stream: "channel-demo")
        let table = try log.table()
        #expect(table.check(first.text) == .revoked(channel: "demo", at: log.events[2].recordedAt, by: "admin:admin", reason: "rotated"))
        #expect(table.check(second.text) == .valid(channelId: channel, channel: "demo"))
        #expect(table.position == 4)
        #expect(table.count == 2)
    }

    @Test func eventsAlreadyAppliedAndMalformedHashesAreIgnored() throws {
        let log = Log()
        let channel = UUID()
        let key = StreamKey.generate()
        try log.append(ChannelCreated(channelId: channel, name: "demo"), stream: "channel-demo")
        try log.append(StreamKeyIssued(channelId: channel, keyId: UUID(), keyHash: "not hex", keyHint: "x"), stream: "channel-demo")
        try log.append(StreamKeyIssued(channelId: UUID(), keyId: UUID(), keyHash: key.hashHex, keyHint: key.hint), stream: "channel-other")
        var table = try log.table()
        #expect(table.count == 0, "a malformed hash or an unknown channel adds nothing")
        // Re-delivered events (a subscription resuming) change nothing.
        try table.apply(log.events[0], registry: log.registry)
        #expect(table.position == 3)
    }
}
