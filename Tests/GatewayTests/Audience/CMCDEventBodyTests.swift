import Gateway
import Testing

@Suite struct CMCDEventBodyTests {
    func reports(_ text: String, _ format: CMCDEventBody.Format? = nil) throws -> [CMCDReport] {
        try CMCDEventBody.parse(Array(text.utf8), format: format).get()
    }

    func failure(_ text: String, _ format: CMCDEventBody.Format? = nil) -> String? {
        if case .failure(let failure) = CMCDEventBody.parse(Array(text.utf8), format: format) { return failure.description }
        return nil
    }

    @Test func linesAreOneReportEach() throws {
        let body = """
            e=ps,sid="session-1",ts=1700000000000,sta=s,v=2
            e=ps,sid="session-1",ts=1700000001250,sta=p,v=2\r

            e=t,sid="session-1",ts=1700000031000,bl=(5000),br=(2400;v),ltc=3100,v=2
            """
        let parsed = try reports(body, .lines)
        #expect(parsed.count == 3)
        #expect(parsed.map(\.event) == ["ps", "ps", "t"])
        #expect(parsed[1].state == "p" && parsed[1].timestamp == 1_700_000_001_250)
        #expect(parsed[2].bufferLength == 5000 && parsed[2].bitrate == 2400 && parsed[2].liveLatency == 3100)
        #expect(try reports(body) == parsed, "sniffed as lines")
    }

    @Test func contentTypesChooseTheForm() {
        #expect(CMCDEventBody.Format(contentType: "text/cmcd") == .lines)
        #expect(CMCDEventBody.Format(contentType: "application/cmcd; charset=utf-8") == .lines)
        #expect(CMCDEventBody.Format(contentType: "text/plain;charset=UTF-8") == .lines)
        #expect(CMCDEventBody.Format(contentType: "Application/JSON") == .json)
        #expect(CMCDEventBody.Format(contentType: "application/octet-stream") == nil)
        #expect(CMCDEventBody.Format(contentType: nil) == nil)
    }

    @Test func jsonObjectsOrArraysOfThem() throws {
        let one = try reports(#"{"e":"ps","sid":"p1","sta":"r","ts":1700000000000,"v":2,"bs":true,"su":false}"#, .json)
        #expect(one.count == 1)
        #expect(one[0].state == "r" && one[0].sessionID == "p1" && one[0].bufferStarvation && !one[0].startup)
        let many = try reports(#"[{"e":"t","sid":"p1","bl":[5000],"br":[3000,128],"pr":1.5},{"e":"ps","sid":"p1","sta":"p","bsd":[700]}]"#)
        #expect(many.count == 2)
        #expect(many[0].bufferLength == 5000 && many[0].bitrate == 3000 && many[0].playbackRate == 1.5)
        #expect(many[1].starvationDuration == 700)
    }

    @Test func jsonThatCMCDCannotCarryIsRefused() {
        #expect(failure(#"{"sid":1}"#, .json)?.contains("sid") == true, "a number where a string goes")
        #expect(failure(#"{"Sid":"x"}"#, .json) != nil, "not a CMCD key")
        #expect(failure(#"{"sid=\"x\",su":"y"}"#, .json) != nil, "a key that would smuggle another")
        #expect(failure(#"{"ot":"v,bs"}"#, .json) != nil, "a token that would smuggle another key")
        #expect(failure(#"{"sid":"caf\u00e9"}"#, .json) != nil)
        #expect(failure(#"{"bl":[[1]]}"#, .json) != nil)
        #expect(failure(#"{"bl":{"v":1}}"#, .json) != nil)
        #expect(failure("[]", .json) != nil)
        #expect(failure("[1,2]", .json) != nil)
        #expect(failure("{", .json) != nil)
    }

    @Test func oneBadLineRefusesTheBody() {
        let failure = failure("e=t,sid=\"a\"\ne=t,bl=x\n")
        #expect(failure?.hasPrefix("line 2:") == true, "\(failure ?? "")")
        #expect(self.failure("\n\n") != nil, "nothing to read")
        #expect(self.failure("e=t,sid=\"a\"\n\u{1}") != nil)
    }

    @Test func bodiesAreBounded() {
        let line = #"e=t,sid="a",bl=100"#
        let many = Array(repeating: line, count: CMCDEventBody.maxReports + 1).joined(separator: "\n")
        #expect(failure(many)?.contains("more than \(CMCDEventBody.maxReports) reports") == true)
        #expect((try? reports(Array(repeating: line, count: CMCDEventBody.maxReports).joined(separator: "\n"))) != nil)
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: CMCDEventBody.maxBytes + 1)
        guard case .failure(let error) = CMCDEventBody.parse(big, format: .lines) else {
            Issue.record("over the byte limit")
            return
        }
        #expect(error.description.contains("over"))
        #expect(failure("x=\"" + String(repeating: "a", count: 1100) + "\"")?.contains("over the limit") == true, "a line over 1 KiB")
    }
}
