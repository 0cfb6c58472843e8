import Gateway
import Testing

@Suite struct CMCDParserTests {
    func parsed(_ text: String) throws -> CMCDReport {
        try CMCDParser.parse(text).get()
    }

    func error(_ text: String) -> CMCDError? {
        if case .failure(let error) = CMCDParser.parse(text) { return error }
        return nil
    }

    @Test func aVersionOneQueryValueAsHlsJsSendsIt() throws {
        let report = try parsed(
            #"bl=21300,br=3200,bs,cid="faec5fc2-ac30-11ea-bb37-0242ac130002",d=4004,dl=18500,mtp=48100,nor="..%2F300kbps%2Ftrack.m4v",ot=v,pr=1.08,sf=h,sid="6e2fb550-c457-11e9-bb97-0800200c9a66",st=l,su,tb=6000"#
        )
        #expect(report.bufferLength == 21300)
        #expect(report.bitrate == 3200)
        #expect(report.bufferStarvation && report.startup)
        #expect(report.contentID == "faec5fc2-ac30-11ea-bb37-0242ac130002")
        #expect(report.deadline == 18500 && report.throughput == 48100)
        #expect(report.objectType == "v" && report.streamingFormat == "h" && report.streamType == "l")
        #expect(report.playbackRate == 1.08)
        #expect(report.sessionID == "6e2fb550-c457-11e9-bb97-0800200c9a66")
        #expect(report.version == nil && report.event == nil)
        #expect(report.isPicture)
    }

    @Test func anEmptyValueIsAnEmptyReport() throws {
        #expect(try parsed("") == CMCDReport())
        #expect(try parsed("  ") == CMCDReport())
    }

    @Test func stringsUnescapeQuotesAndBackslashes() throws {
        #expect(try parsed(#"sid="a\"b\\c""#).sessionID == #"a"b\c"#)
        #expect(try parsed(#"cid="with space, and comma""#).contentID == "with space, and comma")
        #expect(error(#"sid="a\nb""#) != nil, "only \\\" and \\\\ are escapes")
        #expect(error(#"sid="open"#) != nil)
        #expect(error("sid=\"tab\there\"") != nil, "control characters are not in strings")
        #expect(error("sid=\"caf\u{e9}\"") != nil, "CMCD is ASCII")
    }

    @Test func booleansAreBareKeysOrQuestionMarks() throws {
        #expect(try parsed("su").startup)
        #expect(try parsed("su=?1").startup)
        #expect(try parsed("bs=?0").bufferStarvation == false)
        #expect(try parsed("bs=?0,su").startup)
        #expect(error("bs=?2") != nil)
        #expect(error("bs=1") == .invalidValue(key: "bs", expected: "a boolean (the key alone, or ?0/?1)"))
        #expect(error("su=true") != nil, "a token is not a boolean")
    }

    @Test func tokensAndTheirCharacters() throws {
        #expect(try parsed("ot=av,sf=d,st=ll,sta=p,e=ps").objectType == "av")
        #expect(try parsed("ot=av,sf=d,st=ll,sta=p,e=ps").state == "p")
        #expect(try parsed("ot=av,sf=d,st=ll,sta=p,e=ps").event == "ps")
        #expect(try parsed("x-custom=a:b/c*d").objectType == nil, "an unknown key is checked, then dropped")
        #expect(error("ot=\"v\"") == .invalidValue(key: "ot", expected: "a token"))
        #expect(error("ot=v@") != nil)
    }

    @Test func numbersAreBoundedIntegersOrDecimals() throws {
        #expect(try parsed("bl=0").bufferLength == 0)
        #expect(try parsed("ts=1700000000123").timestamp == 1_700_000_000_123)
        #expect(try parsed("pr=2").playbackRate == 2)
        #expect(try parsed("pr=0.5").playbackRate == 0.5)
        #expect(try parsed("x=-12.125").bufferLength == nil)
        #expect(error("bl=1234567890123456") != nil, "16 digits")
        #expect(error("pr=1.2345") != nil, "4 decimals")
        #expect(error("pr=1.") != nil)
        #expect(error("bl=-5") == .invalidValue(key: "bl", expected: "a non-negative integer"))
        #expect(error("bl=(-5)") == .invalidValue(key: "bl", expected: "a non-negative integer or a list of them"))
        #expect(error("bl=1.5") != nil, "bl is an integer")
        #expect(error("dl=\"5\"") != nil)
        #expect(error("bl=12a") != nil)
    }

    @Test func versionTwoInnerListsPreferTheVideoValue() throws {
        let report = try parsed("br=(3000;v 128;a),bl=(25400),mtp=(),bsd=(1200;a 1500;v),v=2,ltc=3400,msd=850")
        #expect(report.bitrate == 3000)
        #expect(report.bufferLength == 25400)
        #expect(report.throughput == nil)
        #expect(report.starvationDuration == 1500, "the longest of the buffers' stall")
        #expect(report.version == 2 && report.liveLatency == 3400 && report.startDelay == 850)
        #expect(try parsed("br=(128;a 3000)").bitrate == 128, "no video annotation: the first")
        #expect(try parsed("nor=(\"s1.m4s\";r=\"0-99\" \"s2.m4s\")").sessionID == nil)
        #expect(error("br=(3000 x)") != nil)
        #expect(error("br=(3000") != nil)
        #expect(error("br=(3000,128)") != nil)
    }

    @Test func parametersOnItemsAreAccepted() throws {
        #expect(try parsed("su;x=1,bl=100;y").bufferLength == 100)
        #expect(try parsed("su;x=1,bl=100;y").startup)
    }

    @Test func whitespaceIsAllowedOnlyAroundCommas() throws {
        #expect(try parsed(" bl=100 , br=200\t,su ").bitrate == 200)
        #expect(error("bl = 100") != nil)
        #expect(error("bl=100 br=200") != nil)
    }

    @Test func malformedDictionariesAreRefused() {
        for text in [
            "=1", ",", "bl=100,", ",bl=100", "BL=100", "bl==1", "bl=100,,br=1", "1bl=3", "sid=\"a\"x", "bl=(1)(2)", ":", "bl=:AAA",
        ] {
            #expect(error(text) != nil, "\(text)")
        }
        if case .syntax(let offset, _)? = error("bl=100;br=") {
            #expect(offset == 10)
        } else {
            Issue.record("a parameter without a value")
        }
    }

    @Test func sessionAndContentIdsAreBounded() throws {
        #expect(try parsed("sid=\"\(String(repeating: "a", count: 64))\"").sessionID?.count == 64)
        #expect(error("sid=\"\(String(repeating: "a", count: 65))\"") != nil)
        #expect(try parsed("cid=\"\(String(repeating: "a", count: 128))\"").contentID?.count == 128)
        #expect(error("cid=\"\(String(repeating: "a", count: 129))\"") != nil)
    }

    @Test func limitsOnBytesAndKeys() throws {
        let padded = "x=\"" + String(repeating: "a", count: CMCDParser.maxBytes - 4) + "\""
        #expect(padded.utf8.count == CMCDParser.maxBytes)
        #expect((try? parsed(padded)) != nil)
        #expect(error(padded + "a") == .tooLong(bytes: CMCDParser.maxBytes + 1))
        let keys = (0..<CMCDParser.maxKeys).map { "k\($0)=1" }
        #expect((try? parsed(keys.joined(separator: ","))) != nil)
        #expect(error((keys + ["k99=1"]).joined(separator: ",")) == .tooManyKeys)
    }

    @Test func theLastOfARepeatedKeyWins() throws {
        #expect(try parsed("bl=1,bl=2").bufferLength == 2)
    }

    @Test func theFourHeadersAndTheQueryMergeIntoOneReport() throws {
        let report = try #require(
            CMCDParser.parse(
                query: nil, request: "bl=21300,dl=18500,mtp=48100,su", object: "br=3200,d=4004,ot=v,tb=6000", status: "bs",
                session: #"cid="c",sid="s",sf=h,st=l,v=1"#)
        ).get()
        #expect(report.bufferLength == 21300 && report.bitrate == 3200 && report.bufferStarvation && report.startup)
        #expect(report.sessionID == "s" && report.version == 1 && report.objectType == "v")
        #expect(CMCDParser.parse(query: nil) == nil, "no CMCD at all")
        let bad = CMCDParser.parse(query: nil, request: "bl=1", object: "br=x", session: #"sid="s""#)
        guard case .failure(.invalidValue(let key, _))? = bad else {
            Issue.record("one malformed header spoils the request's CMCD: \(String(describing: bad))")
            return
        }
        #expect(key == "br")
    }
}
