import Foundation
import Testing

@testable import EventStore

@Suite struct EventFilterParsingTests {
    @Test func parametersBecomeAFilter() throws {
        let filter = try EventFilter.parse([
            "stream": "channel-demo", "streamPrefix": "chat-", "type": "StreamStarted, StreamEnded,", "since": "2026-11-22T10:00:00Z",
            "until": "2026-11-22T11:00:00.5Z", "to": "42", "actor": "admin:root", "correlation": "0b7c5b0e-1c1a-4c8e-9a51-2f4a1f0f6d3e",
        ])
        #expect(filter.stream == "channel-demo")
        #expect(filter.streamPrefix == "chat-")
        #expect(filter.types == ["StreamStarted", "StreamEnded"])
        #expect(filter.since == EventCoding.parseDate("2026-11-22T10:00:00Z"))
        #expect(filter.until == EventCoding.parseDate("2026-11-22T11:00:00.5Z"))
        #expect(filter.toPosition == 42)
        #expect(filter.actor == "admin:root")
        #expect(filter.correlationId == UUID(uuidString: "0B7C5B0E-1C1A-4C8E-9A51-2F4A1F0F6D3E"))
        #expect(try EventFilter.parse(["stream": "", "actor": ""]) == EventFilter(), "empty values are ignored")
        #expect(try EventFilter.parse(["actor": "encoder:[::1]:5000"]).actor == "encoder:[::1]:5000")
    }

    @Test func mistakesNameTheParameterAndWhatItMustBe() {
        let cases: [([String: String], String)] = [
            (["since": "yesterday"], "since must be an ISO 8601 time"),
            (["until": "42"], "until must be an ISO 8601 time"),
            (["to": "-1"], "to must be a position"),
            (["to": "ten"], "to must be a position"),
            (["actor": "root"], "actor must be a kind"),
            (["actor": "admin:"], "actor must be a kind"),
            (["correlation": "not-a-uuid"], "correlation must be a UUID"),
        ]
        for (parameters, message) in cases {
            #expect(throws: EventFilter.ParseError.self, "\(parameters)") { try EventFilter.parse(parameters) }
            do {
                _ = try EventFilter.parse(parameters)
            } catch {
                #expect("\(error)".hasPrefix(message), "\(error)")
            }
        }
    }
}
