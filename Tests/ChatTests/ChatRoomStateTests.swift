import EventStore
import Foundation
import Testing

@testable import Chat

/// A room's state is a pure fold of its events; one that does not decode is not skipped in silence.
@Suite struct ChatRoomStateTests {
    static func event(_ type: String, _ json: String, at position: Int64, schema: Int = 1, stream: String = "chat-room") -> RecordedEvent {
        RecordedEvent(
            position: position, streamId: stream, streamVersion: position, eventId: UUID(), eventType: type, schemaVersion: schema,
            data: Data(json.utf8), metadata: EventMetadata(actor: .system("test")), recordedAt: Date(), hash: [])
    }

    @Test func anUndecodableEventThrowsAndTheRoomMovesOn() throws {
        var registry = EventRegistry()
        registry.registerChatEvents()
        var state = ChatRoomState(channel: "room", position: 0)
        #expect(throws: (any Error).self) {
            try state.apply(Self.event(ChatMessagePosted.eventType, #"{"text":7}"#, at: 1), registry: registry, keys: ViewerKeys())
        }
        #expect(state.position == 1, "the broken event's position is taken, so it is not retried forever")
        #expect(try state.apply(Self.event("SomethingElse", "{}", at: 2), registry: registry, keys: ViewerKeys()).isEmpty)
        #expect(state.position == 2)
        #expect(
            try state.apply(Self.event(ChatMessagePosted.eventType, #"{"text":7}"#, at: 2), registry: registry, keys: ViewerKeys()).isEmpty,
            "an old position is ignored")
    }

    @Test func decodeFailuresAreCounted() {
        let before = DecodeFailures.count
        DecodeFailures.report(
            Self.event("X", "{}", at: 1), CancellationError(), consumer: "test", consequence: "nothing", logger: .init(label: "test"))
        #expect(DecodeFailures.count == before + 1)
    }

    static func posted(_ userId: String, _ name: String, _ text: String, key: DataKey, at position: Int64) throws -> RecordedEvent {
        let personal = try key.seal(ChatMessagePosted.Personal(name: name, text: text), context: ChatMessagePosted.context(userId: userId))
        let posted = ChatMessagePosted(channel: "room", messageId: UUID(), userId: userId, personal: .sealed(personal), nonce: nil)
        return event(ChatMessagePosted.eventType, try EventCoding.encodeString(posted), at: position, schema: 2)
    }

    @Test func sealedMessagesOpenWithTheirKeyAndAnErasureBlanksThem() throws {
        var registry = EventRegistry()
        registry.registerChatEvents()
        let keys = ViewerKeys()
        let (ann, bob) = (DataKey.generate(), DataKey.generate())
        keys.cache(ann, of: "u_ann")
        keys.cache(bob, of: "u_bob")
        var state = ChatRoomState(channel: "room", position: 0)
        let frames = try state.apply(try Self.posted("u_ann", "Ann", "hello", key: ann, at: 1), registry: registry, keys: keys)
        #expect(frames.first?.json.contains(#""text":"hello""#) == true)
        _ = try state.apply(try Self.posted("u_bob", "Bob", "hi ann", key: bob, at: 2), registry: registry, keys: keys)
        // A schema 1 message (plain text) still reads.
        _ = try state.apply(
            Self.event(
                ChatMessagePosted.eventType,
                #"{"channel":"room","messageId":"\#(UUID())","userId":"u_ann","name":"Ann","text":"old","nonce":null}"#, at: 3),
            registry: registry, keys: keys)
        #expect(state.backlog().map(\.text) == ["hello", "hi ann", "old"])
        #expect(state.names["ann"] == "u_ann")

        keys.forget(userId: "u_ann", keyIds: [ann.id])
        let erased = try state.apply(
            Self.event(ViewerErased.eventType, #"{"userId":"u_ann","keyIds":["\#(ann.id)"]}"#, at: 4, stream: ChatStream.viewers),
            registry: registry, keys: keys)
        #expect(erased.first == .viewerErased(userId: "u_ann"))
        #expect(state.backlog().map(\.text) == ["[erased]", "hi ann", "[erased]"])
        #expect(state.backlog().map(\.erased) == [true, nil, true])
        #expect(state.names["ann"] == nil && state.activity["u_ann"] == nil)

        // A message sealed under an erased (or unknown) key arrives blank.
        let late = try state.apply(try Self.posted("u_ann", "Ann", "late", key: ann, at: 5), registry: registry, keys: keys)
        #expect(late.first?.json.contains(#""erased":true"#) == true)
        #expect(late.first?.json.contains("late") == false)
        let stranger = try state.apply(
            try Self.posted("u_eve", "Eve", "who", key: DataKey.generate(), at: 6), registry: registry, keys: keys)
        #expect(stranger.first?.json.contains(#""text":"[erased]""#) == true)
    }
}
