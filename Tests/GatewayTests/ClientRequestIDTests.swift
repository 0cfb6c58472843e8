import Foundation
import Gateway
import Testing

@Suite struct ClientRequestIDTests {
    @Test func takesSaneIdsAsTheyAre() {
        for sane in ["abc", "req-42", "0b9f6c2e-6f1d-4c8e-9a53-2b1f7f1c9d10", "a:b/c=d+e@f", String(repeating: "r", count: 128)] {
            #expect(ClientRequestID(sanitizing: sane)?.value == sane, "\(sane)")
        }
    }

    @Test func refusesWhatDoesNotBelongInALogOrAHeader() {
        for insane: String? in [
            nil, "", " ", "has space", "tab\there", "line\nbreak", "nul\u{0}", "del\u{7F}", "ünicode", "emoji😀",
            String(repeating: "r", count: 129),
        ] {
            #expect(ClientRequestID(sanitizing: insane) == nil, "\(String(reflecting: insane))")
        }
    }

    @Test func correlationIsTheUUIDItselfOrStableForOtherIds() {
        let uuid = UUID()
        #expect(ClientRequestID(sanitizing: uuid.uuidString)?.correlationId == uuid)
        #expect(ClientRequestID(sanitizing: uuid.uuidString.lowercased())?.correlationId == uuid)
        let one = ClientRequestID(sanitizing: "deploy-2026-12-06")?.correlationId
        #expect(one != nil)
        #expect(one == ClientRequestID(sanitizing: "deploy-2026-12-06")?.correlationId, "the same id, the same correlation")
        #expect(one != ClientRequestID(sanitizing: "deploy-2026-12-07")?.correlationId)
        // RFC 9562 version 8, variant 10.
        let text = one?.uuidString ?? ""
        #expect(Array(text)[14] == "8")
        #expect("89AB".contains(Array(text)[19]))
        let made = ClientRequestID()
        #expect(made.correlationId == UUID(uuidString: made.value))
    }
}
