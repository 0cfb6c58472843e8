import TestSupport
import Testing

@testable import Ingest

@Suite struct SRTStreamIDTests {
    @Test func accessControlSyntaxInAnyOrder() throws {
        let forms = [
            "#!::r=live/sk_abc,m=publish",
            "#!::m=publish,r=live/sk_abc",
            "#!::u=alice,r=live/sk_abc,m=publish",
            "#!::r=live/sk_abc,m=publish,h=example.com,s=1234,t=stream,x-custom=1",
        ]
        for form in forms {
            let id = try SRTStreamID(parsing: form)
            #expect(id.application == "live" && id.streamKey == "sk_abc" && id.mode == .publish, "\(form)")
        }
        #expect(try SRTStreamID(parsing: "#!::u=alice,r=live/sk_abc,m=publish").user == "alice")
    }

    @Test func aBackupSaysSoWithRole() throws {
        #expect(try SRTStreamID(parsing: "#!::r=live/sk_abc,m=publish,role=backup").role == .backup)
        #expect(try SRTStreamID(parsing: "#!::r=live/sk_abc,m=publish").role == .primary)
        #expect(throws: SRTStreamID.ParseError.unknownRole("spare")) { try SRTStreamID(parsing: "#!::r=live/sk_abc,role=spare") }
        #expect(SRTStreamID.ParseError.unknownRole("spare").description.contains("role=backup"))
    }

    @Test func bareFormAndDefaultMode() throws {
        let bare = try SRTStreamID(parsing: "live/sk_abc")
        #expect(bare == SRTStreamID(application: "live", streamKey: "sk_abc", mode: .publish))
        #expect(try SRTStreamID(parsing: "#!::r=live/sk_abc").mode == .publish)
        #expect(try SRTStreamID(parsing: "other/k").application == "other")
    }

    @Test func playbackAndOtherModesAreParsedForRefusal() throws {
        #expect(try SRTStreamID(parsing: "#!::r=live/sk_abc,m=request").mode == .request)
        #expect(try SRTStreamID(parsing: "#!::r=live/sk_abc,m=bidirectional").mode == .bidirectional)
        #expect(throws: SRTStreamID.ParseError.unknownMode("play")) { try SRTStreamID(parsing: "#!::r=live/sk_abc,m=play") }
        #expect(SRTRejection.code(for: .unknownMode("play")) == 1405)
    }

    @Test func garbageIsRefusedWithAReason() {
        let cases: [(String, SRTStreamID.ParseError)] = [
            ("", .empty),
            (String(repeating: "a", count: 513), .tooLong(513)),
            ("#!::", .malformedPair("")),
            ("#!::r", .malformedPair("r")),
            ("#!::=live/k", .malformedPair("=live/k")),
            ("#!::r=live/k,r=live/j", .duplicateKey("r")),
            ("#!::m=publish", .missingResource),
            ("#!::r=live", .malformedResource("live")),
            ("#!::r=live/", .malformedResource("live/")),
            ("#!::r=/k", .malformedResource("/k")),
            ("live/a/b", .malformedResource("live/a/b")),
            ("live/a b", .malformedResource("live/a b")),
            ("live/k\u{0}", .malformedResource("live/k\u{0}")),
            ("#!::r=live/k,t=file", .unsupportedType("file")),
        ]
        for (text, expected) in cases {
            #expect(throws: expected, "\(text.debugDescription)") { try SRTStreamID(parsing: text) }
        }
        for (_, error) in cases {
            #expect(
                error.description.contains("#!::r=live/STREAMKEY") || error.description.contains("m=") || error.description.contains("t="))
        }
    }

    /// A stream key anywhere in a malformed id stays out of the reason (which goes to the log).
    @Test func aMalformedIdNeverEchoesAKey() {
        let key = "sk_" + String(repeating: "Q", count: 43)
        for text in [
            "#!::r=\(key)", "#!::\(key)", "live/\(key)/x", "#!::r=live/k,m=\(key)", "#!::r=live/k,t=\(key)", "#!::\(key)=1,\(key)=2",
        ] {
            do {
                _ = try SRTStreamID(parsing: text)
                Issue.record("\(text) should not parse")
            } catch {
                #expect(!error.description.contains("QQQQ"), "\(error.description)")
            }
        }
    }

    @Test func randomStreamIDsNeverTrap() {
        var generator = SeededGenerator(state: 42)
        let alphabet = Array("#!:=,/rmu live publish request\u{0}\u{FF}é".unicodeScalars)
        for _ in 0..<5000 {
            let length = Int.random(in: 0...40, using: &generator)
            let text = String(
                String.UnicodeScalarView((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] }))
            _ = try? SRTStreamID(parsing: text)
            _ = try? SRTStreamID(parsing: "#!::" + text)
        }
    }

    @Test func refusalsMapToAccessControlRejectCodes() {
        #expect(SRTRejection.code(for: .unknownKey) == 1404)
        #expect(SRTRejection.code(for: .revokedKey(channelID: nil, channelName: nil, revokedAt: nil, revokedBy: nil)) == 1403)
        #expect(SRTRejection.code(for: .channelAlreadyLive(channelID: "c", channelName: "c")) == 1409)
        #expect(SRTRejection.code(for: .tooManyFailedAttempts(retryAfterSeconds: 3)) == 1402)
        #expect(SRTRejection.code(for: .unavailable("db")) == 1503)
        #expect(SRTRejection.code(for: .malformedRequest("x")) == 1400)
    }
}
