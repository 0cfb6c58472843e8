import EventStore
import Foundation
import Testing

@Suite struct ReadModelHashTests {
    struct Sample: Encodable {
        var zeta: Int64
        var alpha: String
        var at: Date
        var missing: String?
        var nested: [String: [Int]]
    }

    let sample = Sample(
        zeta: 1_796_542_238_123_456, alpha: "a/b \u{e9}", at: Date(timeIntervalSince1970: 1_796_542_238.123456), missing: nil,
        nested: ["b": [2, 1], "a": []])

    @Test func canonicalBytesSortKeysAndWriteTimesAsMicroseconds() throws {
        let text = String(decoding: try ReadModelHash.canonical(sample), as: UTF8.self)
        #expect(text == #"{"alpha":"a/b é","at":1796542238123456,"nested":{"a":[],"b":[2,1]},"zeta":1796542238123456}"#)
        #expect(ReadModelHash.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// What the API returns (the value as JSON) hashes to what the node hashed.
    @Test func valueSurvivesTheRoundTrip() throws {
        let canonical = try ReadModelHash.canonical(sample)
        let value = try AuditedValue(model: "m", position: 7, scope: nil, time: nil, canonical: canonical)
        #expect(try ReadModelHash.canonical(value.value) == canonical)
        #expect(value.hash == ReadModelHash.hex(canonical))
    }

    @Test func differencesNameThePath() throws {
        let live = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"rooms":[{"text":"a","n":1},{"text":"b"}]}"#.utf8))
        let rebuilt = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"rooms":[{"text":"a","n":2}]}"#.utf8))
        let found = AuditedValue.differences(live, rebuilt)
        #expect(found.contains("$.rooms: 2 entries live, 1 rebuilt"), "\(found)")
        #expect(found.contains("$.rooms[0].n: live 1, rebuilt 2"), "\(found)")
        #expect(AuditedValue.differences(live, live).isEmpty)
    }

    @Test func tableHashesCombineInOrder() {
        let a = ReadModelHash.combine([("t1", "aa"), ("t2", "bb")])
        #expect(a == ReadModelHash.hex(Data("t1 aa\nt2 bb\n".utf8)))
        #expect(a != ReadModelHash.combine([("t2", "bb"), ("t1", "aa")]))
    }
}
