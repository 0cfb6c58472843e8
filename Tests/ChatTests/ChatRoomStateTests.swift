import Chat
import EventStore
import Foundation
import Testing

/// A room's state is a pure fold of its events; one that does not decode is not skipped in silence.
@Suite struct ChatRoomStateTests {
    static func event(_ type: String, _ json: String, at position: Int64) -> RecordedEvent {
        RecordedEvent(
            position: position, streamId: "chat-room", streamVersion: position, eventId: UUID(), eventType: type, schemaVersion: 1,
            data: Data(json.utf8), metadata: EventMetadata(actor: .system("test")), recordedAt: Date(), hash: [])
    }

    @Test func anUndecodableEventThrowsAndTheRoomMovesOn() throws {
        var registry = EventRegistry()
        registry.registerChatEvents()
        var state = ChatRoomState(channel: "room", position: 0)
        #expect(throws: (any Error).self) {
            try state.apply(Self.event(ChatMessagePosted.eventType, #"{"text":7}"#, at: 1), registry: registry)
        }
        #expect(state.position == 1, "the broken event's position is taken, so it is not retried forever")
        #expect(try state.apply(Self.event("SomethingElse", "{}", at: 2), registry: registry).isEmpty)
        #expect(state.position == 2)
        #expect(
            try state.apply(Self.event(ChatMessagePosted.eventType, #"{"text":7}"#, at: 2), registry: registry).isEmpty,
            "an old position is ignored")
    }

    @Test func decodeFailuresAreCounted() {
        let before = DecodeFailures.count
        DecodeFailures.report(
            Self.event("X", "{}", at: 1), CancellationError(), consumer: "test", consequence: "nothing", logger: .init(label: "test"))
        #expect(DecodeFailures.count == before + 1)
    }
}
