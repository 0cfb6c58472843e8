import EventStore
import Foundation
import Gateway
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import Node

/// The webhook worker's own HTTP/1.1 client (sans-I/O, on an embedded channel): one request at a
/// time on a kept-alive connection, the status of each answer, and the ways a connection ends.
@Suite struct WebhookHTTPTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHTTPClientHandlers()
        try channel.pipeline.syncOperations.addHandler(WebhookExchangeHandler())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        return channel
    }

    static func send(_ channel: EmbeddedChannel, timeout: TimeAmount = .seconds(10)) throws -> (EventLoopFuture<UInt>, String) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "example.org")
        headers.add(name: "Content-Length", value: "2")
        let answer = channel.eventLoop.makePromise(of: UInt.self)
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/hook?x=1", headers: headers)
        channel.writeAndFlush(WebhookExchange(head: head, body: ByteBuffer(string: "{}"), timeout: timeout, answer: answer), promise: nil)
        var written = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = part { written += String(buffer: buffer) }
        }
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
        #expect(request.hasPrefix("POST /hook?x=1 HTTP/1.1\r\n") && request.hasSuffix("\r\n\r\n{}"), "\(request)")
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
        guard case .failure(let error) = Self.result(cut), case WebhookHTTPError.closedDuringAnswer? = error as? WebhookHTTPError
        else {
            // NIO's decoder may report the cut body itself; either way the exchange failed.
            #expect(Self.result(cut).map { if case .failure = $0 { true } else { false } } == true)
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
            let written = WebhookDispatcher.json(metadata)
            let parse = { (text: String) in try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary }
            #expect(try parse(written) == parse(encoded), "\(written) vs \(encoded)")
            let decoded = try EventCoding.decoder().decode(EventMetadata.self, from: Data(written.utf8))
            #expect(decoded == metadata)
        }
        #expect(WebhookDispatcher.json(EventMetadata(actor: .admin)) == #"{"actor":{"id":"admin","kind":"admin"}}"#)
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
    }

    @Test func bodiesQuoteStringsAsJSONDoes() throws {
        for text in ["plain", "quote \" and \\ backslash", "line\nbreak\ttab\r", "\u{01}\u{1f} control", "ünïcödé ✓ 🎥", ""] {
            let quoted = WebhookDispatcher.quoted(text)
            let decoded = try JSONSerialization.jsonObject(with: Data("[\(quoted)]".utf8)) as? [String]
            #expect(decoded == [text], "\(quoted)")
        }
    }
}
