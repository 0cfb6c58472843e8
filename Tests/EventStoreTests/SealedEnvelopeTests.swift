import Foundation
import Testing

@testable import EventStore

/// The cipher envelope of personal fields (sans-I/O): what opens, what does not, and its JSON.
@Suite struct SealedEnvelopeTests {
    struct Fields: Codable, Sendable, Hashable {
        var name: String
        var text: String
    }

    static let fields = Fields(name: "Ann", text: "my phone is 555-0100 ✓")

    @Test func sealedFieldsOpenUnderTheirKeyAndContextOnly() throws {
        let key = DataKey.generate()
        let envelope = try key.seal(Self.fields, context: "ChatMessagePosted|u_ann")
        #expect(try key.open(envelope, as: Fields.self, context: "ChatMessagePosted|u_ann") == Self.fields)
        #expect(envelope.keyId == key.id)
        #expect(envelope.version == 1)

        // Nonces are random: the same fields never seal to the same bytes.
        #expect(try key.seal(Self.fields, context: "ChatMessagePosted|u_ann").box != envelope.box)

        // Another context (event type or subject): moved ciphertext does not open.
        #expect(throws: SealedEnvelope.Failure.unauthentic) {
            try key.open(envelope, as: Fields.self, context: "ChatMessagePosted|u_bob")
        }
        // Another key, under this key's id (a restored or forged key row), does not open it.
        let impostor = try #require(DataKey(id: key.id, bytes: [UInt8](repeating: 7, count: 32)))
        #expect(throws: SealedEnvelope.Failure.unauthentic) {
            try impostor.open(envelope, as: Fields.self, context: "ChatMessagePosted|u_ann")
        }
        // A key of another id says so.
        #expect(throws: SealedEnvelope.Failure.wrongKey(key.id)) {
            try DataKey.generate().open(envelope, as: Fields.self, context: "ChatMessagePosted|u_ann")
        }
    }

    @Test func alteredOrMalformedEnvelopesAreRefusedWithAReason() throws {
        let key = DataKey.generate()
        let envelope = try key.seal(Self.fields, context: "c")
        var bytes = try #require(Data(base64Encoded: envelope.box))
        for index in [0, 12, bytes.count / 2, bytes.count - 1] {
            var flipped = bytes
            flipped[index] ^= 0x01
            var altered = envelope
            altered.box = flipped.base64EncodedString()
            #expect(throws: SealedEnvelope.Failure.unauthentic) { try key.open(altered, as: Fields.self, context: "c") }
        }
        bytes.removeLast(20)
        var truncated = envelope
        truncated.box = bytes.prefix(10).base64EncodedString()
        #expect(throws: SealedEnvelope.Failure.unauthentic) { try key.open(truncated, as: Fields.self, context: "c") }
        var notBase64 = envelope
        notBase64.box = "%%%"
        #expect(throws: SealedEnvelope.Failure.malformed("box is not base64")) { try key.open(notBase64, as: Fields.self, context: "c") }
        var newer = envelope
        newer.version = 2
        #expect(throws: SealedEnvelope.Failure.unsupportedVersion(2)) { try key.open(newer, as: Fields.self, context: "c") }
    }

    @Test func keysAre256BitsAndRoundTripThroughTheirBytes() throws {
        let key = DataKey.generate()
        #expect(key.bytes.count == 32)
        #expect(DataKey(id: key.id, bytes: [UInt8](repeating: 1, count: 16)) == nil)
        let restored = try #require(DataKey(id: key.id, bytes: key.bytes))
        let envelope = try key.seal(Self.fields, context: "c")
        #expect(try restored.open(envelope, as: Fields.self, context: "c") == Self.fields)
    }

    @Test func theStoredJSONHoldsNoPlaintext() throws {
        let key = DataKey.generate()
        let sealed = PersonalData<Fields>.sealed(try key.seal(Self.fields, context: "c"))
        let json = try EventCoding.encodeString(sealed)
        #expect(!json.contains("Ann") && !json.contains("555"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: [String: Any]])
        #expect(Set((object["sealed"] ?? [:]).keys) == ["v", "key", "box"])
        #expect(try EventCoding.decoder().decode(PersonalData<Fields>.self, from: Data(json.utf8)) == sealed)
        #expect(sealed.keyId == key.id)

        let plain = PersonalData<Fields>.plain(Self.fields)
        #expect(try EventCoding.encodeString(plain) == #"{"plain":{"name":"Ann","text":"my phone is 555-0100 ✓"}}"#)
        #expect(try EventCoding.decoder().decode(PersonalData<Fields>.self, from: Data(try EventCoding.encodeString(plain).utf8)) == plain)
        #expect(plain.keyId == nil)
    }

    @Test func olderPlainEventsUpcastIntoThePlainForm() throws {
        let step = PersonalData<Fields>.upcastPlain(["name", "text"], into: "personal")
        let old = try EventCoding.decoder().decode(JSONValue.self, from: Data(#"{"channel":"demo","name":"Ann","text":"hi"}"#.utf8))
        let upcast = try step(old)
        #expect(upcast["channel"] == .string("demo"))
        #expect(upcast["name"] == nil && upcast["text"] == nil)
        #expect(upcast["personal"]?["plain"]?["name"] == .string("Ann"))
        #expect(upcast["personal"]?["plain"]?["text"] == .string("hi"))
    }
}
