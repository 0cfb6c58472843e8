import Crypto
import EventStore
import Foundation
import Gateway
import NIOCore
import NIOEmbedded
import Testing

@testable import Node

/// The webhook worker's own HTTP/1.1 client (sans-I/O, on an embedded channel): one request at a
/// time on a kept-alive connection, the status of each answer, and the ways a connection ends.
@Suite struct WebhookHTTPTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(WebhookExchangeHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        return channel
    }

    static func send(_ channel: EmbeddedChannel, timeout: TimeAmount = .seconds(10)) throws -> (EventLoopFuture<UInt>, String) {
        let endpoint = try WebhookEndpoint("http://example.org/hook?x=1")
        let request = endpoint.request(id: "evt_1", timestamp: 1_614_265_330, signature: "v1,abc=", body: Array("{}".utf8))
        let answer = channel.eventLoop.makePromise(of: UInt.self)
        channel.writeAndFlush(WebhookExchange(request: request, timeout: timeout, answer: answer), promise: nil)
        var written = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { written += String(buffer: buffer) }
        return (answer.futureResult, written)
    }

    static func result(_ future: EventLoopFuture<UInt>) -> Result<UInt, any Error>? {
        var result: Result<UInt, any Error>?
        future.whenComplete { result = $0 }
        return result
    }

    @Test func answersOnAKeptAliveConnectionGiveTheirStatusAndAClosingAnswerEndsIt() throws {
        let channel = try Self.channel()
        let (first, request) = try Self.send(channel)
        #expect(
            request == "POST /hook?x=1 HTTP/1.1\r\nHost: example.org\r\nContent-Type: application/json\r\nUser-Agent: streamd\r\n"
                + "Content-Length: 2\r\nwebhook-id: evt_1\r\nwebhook-timestamp: 1614265330\r\nwebhook-signature: v1,abc=\r\n\r\n{}")
        #expect(Self.result(first) == nil)
        // The body arrives in pieces and is dropped; the status counts once the answer ended.
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"))
        #expect(Self.result(first) == nil)
        try channel.writeInbound(ByteBuffer(string: "world"))
        #expect(try Self.result(first)?.get() == 200)
        #expect(channel.isActive)

        // An interim answer is passed over; `Connection: close` closes after the answer.
        let (second, _) = try Self.send(channel)
        try channel.writeInbound(
            ByteBuffer(
                string:
                    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 307 Temporary Redirect\r\nLocation: /x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
            ))
        #expect(try Self.result(second)?.get() == 307)
        #expect(!channel.isActive)
    }

    @Test func aConnectionClosedBeforeTheAnswerIsToldApartFromOneClosedDuringIt() throws {
        let before = try Self.channel()
        let (unanswered, _) = try Self.send(before)
        try before.close().wait()
        guard case .failure(WebhookHTTPError.closedBeforeAnswer) = Self.result(unanswered) else {
            Issue.record("\(String(describing: Self.result(unanswered)))")
            return
        }
        let during = try Self.channel()
        let (cut, _) = try Self.send(during)
        try during.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"))
        try during.close().wait()
        guard case .failure(WebhookHTTPError.closedDuringAnswer) = Self.result(cut) else {
            Issue.record("\(String(describing: Self.result(cut)))")
            return
        }
    }

    @Test func noAnswerWithinTheTimeFailsTheExchangeAndClosesTheConnection() throws {
        let channel = try Self.channel()
        // An answered request leaves no timer behind to cut the next one short.
        let (answered, _) = try Self.send(channel, timeout: .seconds(2))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(500))
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 204 No Content\r\n\r\n"))
        #expect(try Self.result(answered)?.get() == 204)
        let (silent, _) = try Self.send(channel, timeout: .seconds(2))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(Self.result(silent) == nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(Self.result(silent) == nil, "the time runs from the request, not the connection")
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        guard case .failure(WebhookHTTPError.timedOut) = Self.result(silent) else {
            Issue.record("\(String(describing: Self.result(silent)))")
            return
        }
        #expect(!channel.isActive)
    }

    @Test func endpointsKeepTheirPathQueryAndAuthority() throws {
        let plain = try WebhookEndpoint("http://hooks.example.org:8080/a/b%20c?x=1&y=2")
        #expect(!plain.tls && plain.host == "hooks.example.org" && plain.port == 8080)
        #expect(plain.target == "/a/b%20c?x=1&y=2" && plain.authority == "hooks.example.org:8080")
        let secure = try WebhookEndpoint("https://example.org")
        #expect(secure.tls && secure.port == 443 && secure.target == "/" && secure.authority == "example.org")
        let six = try WebhookEndpoint("http://[::1]:9000/x")
        #expect(six.host == "::1" && six.authority == "[::1]:9000")
        #expect(throws: WebhookError.self) { try WebhookEndpoint("ftp://example.org/") }
        #expect(throws: WebhookError.self) { try WebhookEndpoint("not a url") }
    }

    @Test func bodiesWriteMetadataAsTheLogsEncoderDoes() throws {
        // A field added to EventMetadata must be added to WebhookDispatcher.json as well.
        #expect(Mirror(reflecting: EventMetadata(actor: .admin)).children.count == 6)
        var full = EventMetadata(
            actor: EventActor(.moderator, id: "mod \"one\"/ü"), correlationId: UUID(), causationId: UUID(), requestId: "req-1",
            reason: "line\nbreak")
        full.spooledAt = Date(timeIntervalSince1970: 1_780_000_000.125)
        for metadata in [EventMetadata(actor: .system("webhooks")), full] {
            let encoded = try EventCoding.encodeString(metadata)
            var json = WebhookJSON(capacity: 0)
            WebhookDispatcher.write(metadata, into: &json)
            let written = String(decoding: json.bytes, as: UTF8.self)
            let parse = { (text: String) in try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary }
            #expect(try parse(written) == parse(encoded), "\(written) vs \(encoded)")
            let decoded = try EventCoding.decoder().decode(EventMetadata.self, from: Data(written.utf8))
            #expect(decoded == metadata)
        }
        var json = WebhookJSON(capacity: 0)
        WebhookDispatcher.write(EventMetadata(actor: .admin), into: &json)
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"{"actor":{"id":"admin","kind":"admin"}}"#)
    }

    /// Standard Webhooks' own example (its reference libraries' test vector), signed twice with
    /// one key: a key keyed once must not carry one message into the next.
    @Test func signaturesFollowStandardWebhooksAndAKeyIsReusable() throws {
        let key = try #require(WebhookSigningKey(secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        let body = Array(#"{"test": 2432232314}"#.utf8)
        let expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        #expect(WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body, key: key) == expected)
        _ = WebhookSignature.sign(id: "other", timestamp: 1, body: [1, 2, 3], key: key)
        #expect(WebhookSignature.sign(id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: 1_614_265_330, body: body, key: key) == expected)
        #expect(WebhookSigningKey(secret: "not whsec") == nil)
        // Keys shorter than, as long as and longer than SHA-256's block (hashed first), as CryptoKit's HMAC signs.
        for length in [1, 24, 64, 65, 100] {
            let secret = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let key = try #require(WebhookSigningKey(secret: "whsec_" + Data(secret).base64EncodedString()))
            let mac = HMAC<SHA256>.authenticationCode(for: Array("evt_9.1700000000.".utf8) + body, using: SymmetricKey(data: secret))
            #expect(
                WebhookSignature.sign(id: "evt_9", timestamp: 1_700_000_000, body: body, key: key) == "v1,"
                    + Data(mac).base64EncodedString())
        }
    }

    @Test func bodiesQuoteStringsAsJSONDoes() throws {
        for text in ["plain", "quote \" and \\ backslash", "line\nbreak\ttab\r", "\u{01}\u{1f} control", "ünïcödé ✓ 🎥", ""] {
            var json = WebhookJSON(capacity: 0)
            json.string(text)
            let quoted = String(decoding: json.bytes, as: UTF8.self)
            let decoded = try JSONSerialization.jsonObject(with: Data("[\(quoted)]".utf8)) as? [String]
            #expect(decoded == [text], "\(quoted)")
        }
    }
    @Test func datesAndIdentifiersAreWrittenAsTheLogWritesThem() throws {
        var generator = SystemRandomNumberGenerator()
        var dates = [0, 0.0004, 0.9995, 0.9999, -0.0004, 1_000_000_000.0015, 1_780_000_000.125].map(Date.init(timeIntervalSince1970:))
        for _ in 0..<20_000 {
            dates.append(Date(timeIntervalSince1970: Double(Int64.random(in: 0...4_000_000_000_000_000, using: &generator)) / 1e6))
            dates.append(Date(timeIntervalSince1970: Double.random(in: -1e10...1e11, using: &generator)))
        }
        for date in dates {
            var json = WebhookJSON(capacity: 0)
            json.string(date)
            #expect(String(decoding: json.bytes, as: UTF8.self) == "\"\(EventCoding.formatDate(date))\"", "\(date.timeIntervalSince1970)")
        }
        for _ in 0..<100 {
            let id = UUID()
            var json = WebhookJSON(capacity: 0)
            json.string(id, lowercase: true)
            json.string(id, lowercase: false)
            #expect(String(decoding: json.bytes, as: UTF8.self) == "\"\(id.uuidString.lowercased())\"\"\(id.uuidString)\"")
        }
    }

    /// What a receiver may answer, in any split: each answer's status and whether it keeps the
    /// connection, the body skipped by length, chunked (with extensions and trailers) or up to the close.
    @Test func answersAreReadInAnySplit() throws {
        let cases: [(String, [WebhookResponseParser.Answer], closed: WebhookResponseParser.Answer?)] = [
            ("HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", [.init(status: 204, keepAlive: true)], nil),
            (
                "HTTP/1.1 200 OK\r\ncontent-LENGTH: 5\r\n\r\nhelloHTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                [.init(status: 200, keepAlive: true), .init(status: 500, keepAlive: false)], nil
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
                [.init(status: 202, keepAlive: true)], nil
            ),
            ("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", [.init(status: 200, keepAlive: false)], nil),
            ("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", [.init(status: 200, keepAlive: true)], nil),
            ("HTTP/1.1 200 OK\nContent-Length: 0\n\n", [.init(status: 200, keepAlive: true)], nil),
            ("HTTP/1.1 200 OK\r\n\r\nbody until the close", [], .init(status: 200, keepAlive: false)),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\u{1f}\u{8b}", [], .init(status: 200, keepAlive: false)),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n0\r\n\r\n",
                [.init(status: 200, keepAlive: false)], nil
            ),
        ]
        for (text, expected, closed) in cases {
            let bytes = Array(text.utf8)
            for split in [1, 2, 3, 7, bytes.count] {
                var parser = WebhookResponseParser()
                var answers: [WebhookResponseParser.Answer] = []
                var index = 0
                while index < bytes.count {
                    var buffer = ByteBuffer(bytes: bytes[index..<min(index + split, bytes.count)])
                    let reading = parser.feed(&buffer)
                    answers += reading.answers
                    #expect(reading.malformed == nil && buffer.readableBytes == 0)
                    index += split
                }
                #expect(answers == expected, "\(text.debugDescription) in pieces of \(split)")
                #expect(parser.connectionClosed() == closed, "\(text.debugDescription) in pieces of \(split)")
            }
        }
    }

    @Test func malformedOrOversizedAnswersAreRefusedWithTheirReason() throws {
        let cases = [
            ("ICY 200 OK\r\n\r\n", "status line"),
            ("HTTP/1.1 20 OK\r\n\r\n", "status line"),
            ("HTTP/2 200\r\n\r\n", "status line"),
            ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "Content-Length"),
            ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", "Content-Length"),
            ("HTTP/1.1 200 OK\r\n folded: line\r\n\r\n", "header line"),
            ("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "header line"),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", "chunk longer"),
            ("HTTP/1.1 101 Switching Protocols\r\n\r\n", "switched protocols"),
            ("HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: WebhookResponseParser.maxHead), "over"),
        ]
        for (text, reason) in cases {
            var parser = WebhookResponseParser()
            var buffer = ByteBuffer(string: text)
            let reading = parser.feed(&buffer)
            #expect(reading.malformed?.description.contains(reason) == true, "\(text.debugDescription): \(reading)")
            // Nothing more is read, and the close completes nothing.
            var more = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            #expect(parser.feed(&more).answers.isEmpty && parser.connectionClosed() == nil)
        }
        // An answer whole before the fault still counts; the fault is reported after it.
        var parser = WebhookResponseParser()
        var buffer = ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 \u{10}\r\nbroken\r\n")
        let reading = parser.feed(&buffer)
        #expect(reading.answers == [.init(status: 200, keepAlive: true)] && reading.malformed != nil)
    }

    @Test func anAnswerNobodyAskedForOrAMalformedOneClosesTheConnection() throws {
        let unasked = try Self.channel()
        try unasked.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(!unasked.isActive)
        let malformed = try Self.channel()
        let (answer, _) = try Self.send(malformed)
        try malformed.writeInbound(ByteBuffer(string: "SSH-2.0-OpenSSH\r\n"))
        #expect(!malformed.isActive)
        guard case .failure(let error) = Self.result(answer) else {
            Issue.record("\(String(describing: Self.result(answer)))")
            return
        }
        #expect("\(error)".contains("not HTTP/1.1"))
        // An answer whose body runs until the close counts when the connection closes.
        let untilClose = try Self.channel()
        let (closing, _) = try Self.send(untilClose)
        try untilClose.writeInbound(ByteBuffer(string: "HTTP/1.1 202 Accepted\r\n\r\nsome body"))
        #expect(Self.result(closing) == nil)
        try untilClose.close().wait()
        #expect(try Self.result(closing)?.get() == 202)
    }
}
