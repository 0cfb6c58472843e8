import Foundation
import HTTPTypes
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import Packager
import Testing

@testable import Gateway

/// Both playback fast paths on an `EmbeddedChannel`: what they cannot answer from memory reaches the
/// next handler unchanged, and nothing is written for it; what they can (a packaged session,
/// `PlaybackFixture`) is answered with the packager's bytes and the router's headers, in order.
@Suite struct LiveMediaFastPathTests {
    // MARK: The raw path, in front of HTTP decoding

    func rawChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: LiveMediaRawPath(directory: PlaybackDirectory()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    /// Every byte forwarded inbound, in order.
    func forwarded(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while var buffer = try channel.readInbound(as: ByteBuffer.self) { text += buffer.readString(length: buffer.readableBytes) ?? "" }
        return text
    }

    @Test(arguments: [
        "GET /live/nobody/360p/s1.m4s HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST /v1/channels HTTP/1.1\r\nHost: h\r\nContent-Length: 13\r\n\r\n{\"name\":\"x\"}\n",
        "\u{0}\u{1}\u{2} not http at all\r\n\r\nmore",
        "GET /live/partial/360p/s1.m4s HTTP/1.1\r\nHost:",
        "GET /live/a/360p/s1.m4s HTTP/1.1\r\nHost: h\r\n\r\nGET /v1/streams HTTP/1.1\r\nHost: h\r\n\r\n",
    ])
    func whatTheRawPathCannotAnswerPassesOnUnchanged(_ request: String) throws {
        let channel = try rawChannel()
        try channel.writeInbound(ByteBuffer(string: request))
        #expect(try forwarded(channel) == request)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing answered")
        #expect(channel.isActive, "not closed")
        _ = try channel.finish()
    }

    @Test func requestBytesSplitAcrossReadsPassOnWhole() throws {
        let channel = try rawChannel()
        let request = "GET /live/nobody/audio/s3.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
        let cut = request.index(request.startIndex, offsetBy: 17)
        try channel.writeInbound(ByteBuffer(string: String(request[..<cut])))
        try channel.writeInbound(ByteBuffer(string: String(request[cut...])))
        #expect(try forwarded(channel) == request)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish()
    }

    /// After a request that closes the connection the decoder takes no other: the raw path frames
    /// none either and hands the rest on as it came (found by ops/fuzz's http-raw target).
    @Test func afterARequestThatClosesTheRestPassesOnInOneRead() throws {
        let channel = try rawChannel()
        let closing = "GET /live/nobody/360p/s1.m4s HTTP/1.1\r\nConnection: close\r\n\r\n"
        let rest = "GET /live/nobody/360p/s2.m4s HTTP/1.1\r\n\r\nGET /live/nobody/360p/s3.m4s HTTP/1.1\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: closing + rest))
        var reads: [String] = []
        while var buffer = try channel.readInbound(as: ByteBuffer.self) {
            reads.append(buffer.readString(length: buffer.readableBytes) ?? "")
        }
        #expect(reads == [closing, rest])
        _ = try channel.finish()
    }

    // MARK: The fast path, after HTTP decoding

    func fastChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        // Fed decoded parts, with no raw path in front.
        try channel.pipeline.syncOperations.addHandler(LiveMediaFastPath(directory: PlaybackDirectory()))
        return channel
    }

    @Test(arguments: ["/v1/streams", "/live/nobody/360p/s1.m4s", "/live/nobody/index.m3u8", "/watch/x"])
    func whatTheFastPathCannotAnswerGoesToTheRouter(_ path: String) throws {
        let channel = try fastChannel()
        let head = HTTPRequest(method: .get, scheme: nil, authority: "h", path: path)
        try channel.writeInbound(HTTPRequestPart.head(head))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        guard case .head(let forwarded) = try channel.readInbound(as: HTTPRequestPart.self) else {
            Issue.record("the head was not forwarded")
            return
        }
        #expect(forwarded == head)
        guard case .end = try channel.readInbound(as: HTTPRequestPart.self) else {
            Issue.record("the end was not forwarded")
            return
        }
        #expect(try channel.readOutbound(as: HTTPResponsePart.self) == nil, "nothing answered here")
        _ = try channel.finish()
    }
}

// MARK: - Answers from memory

/// The same handlers with a packaged session in the directory (`PlaybackFixture`): what each path
/// answers from memory, byte for byte, and how it keeps a connection's responses in order.
extension LiveMediaFastPathTests {
    typealias Fixture = PlaybackFixture

    /// The fast path alone, fed decoded parts (no raw path in front), on a connected channel.
    func fastPath(_ fixture: Fixture) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(LiveMediaFastPath(directory: fixture.directory))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    static func request(_ method: HTTPRequest.Method, _ path: String, _ fields: HTTPFields = [:]) -> HTTPRequest {
        HTTPRequest(method: method, scheme: nil, authority: "h", path: path, headerFields: fields)
    }

    static func get(_ path: String, _ fields: HTTPFields = [:]) -> HTTPRequest {
        request(.get, path, fields)
    }

    func send(_ request: HTTPRequest, to channel: EmbeddedChannel) throws {
        try channel.writeInbound(HTTPRequestPart.head(request))
        try channel.writeInbound(HTTPRequestPart.end(nil))
    }

    func written(_ channel: EmbeddedChannel) throws -> [HTTPResponsePart] {
        var parts: [HTTPResponsePart] = []
        while let part = try channel.readOutbound(as: HTTPResponsePart.self) { parts.append(part) }
        return parts
    }

    func passedOn(_ channel: EmbeddedChannel) throws -> [HTTPRequestPart] {
        var parts: [HTTPRequestPart] = []
        while let part = try channel.readInbound(as: HTTPRequestPart.self) { parts.append(part) }
        return parts
    }

    /// The header fields both paths send for `file`, in their order, without `Date` (checked apart).
    static func expectedFields(_ file: MediaFile, contentType: String) -> [String] {
        [
            "Access-Control-Allow-Origin: *",
            "Access-Control-Expose-Headers: Content-Length, Content-Range, ETag, Last-Modified, Age, Date",
            "Cache-Control: public, max-age=31536000, immutable",
            "Content-Type: \(contentType)",
            "Accept-Ranges: bytes",
            "Server: streamd",
            "ETag: \"\(file.etag)\"",
            "Last-Modified: \(file.lastModified)",
            "Content-Length: \(file.bytes.readableBytes)",
        ]
    }

    /// `Date` is an IMF-fixdate within a few seconds of now.
    static func checkDate(_ text: String?, sourceLocation: SourceLocation = #_sourceLocation) {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let text, let date = formatter.date(from: text) else {
            Issue.record("Date \(text ?? "missing") is not an IMF-fixdate", sourceLocation: sourceLocation)
            return
        }
        #expect(abs(date.timeIntervalSinceNow) < 5, "Date \(text)", sourceLocation: sourceLocation)
    }

    /// A response head's fields as `Name: value` lines, `Date` taken out.
    static func lines(_ fields: HTTPFields) -> (lines: [String], date: String?) {
        (fields.filter { $0.name != .date }.map { "\($0.name.rawName): \($0.value)" }, fields[.date])
    }

    // MARK: The fast path answers

    @Test(arguments: [
        (PlaybackFixture.video, "s1.p2.m4s", MediaResponse.videoType),
        (PlaybackFixture.video, "s2.p1.m4s", MediaResponse.videoType),
        (PlaybackFixture.video, "init.mp4", MediaResponse.videoType),
        (PlaybackFixture.video, "s0.m4s", MediaResponse.videoType),
        (PlaybackFixture.audio, "init.mp4", MediaResponse.audioType),
        (PlaybackFixture.audio, "s0.p0.m4s", MediaResponse.audioType),
    ])
    func aFileInMemoryIsAnsweredOnTheChannel(rendition: String, name: String, contentType: String) async throws {
        let fixture = try await Fixture.make()
        let file = try fixture.file(rendition, name)
        let channel = try fastPath(fixture)
        try channel.writeInbound(HTTPRequestPart.head(Self.get("/live/demo/\(rendition)/\(name)")))
        #expect(try written(channel).isEmpty, "answered once the request has ended")
        try channel.writeInbound(HTTPRequestPart.end(nil))

        let parts = try written(channel)
        try #require(parts.count == 3, "\(parts)")
        guard case .head(let response) = parts[0], case .body(let body) = parts[1], case .end(nil) = parts[2] else {
            Issue.record("not head, body, end: \(parts)")
            return
        }
        #expect(response.status == .ok)
        let (lines, date) = Self.lines(response.headerFields)
        #expect(lines == Self.expectedFields(file, contentType: contentType))
        #expect(file.etag == "\(fixture.sessionID)-\(rendition)-\(name)")
        Self.checkDate(date)
        #expect(body == file.bytes)
        #expect(body.readableBytes > 100)
        #expect(try passedOn(channel).isEmpty, "nothing reaches the router")
        #expect(channel.isActive, "kept alive")
        _ = try channel.finish()
    }

    @Test func theBytesAreThePackagersMedia() async throws {
        let fixture = try await Fixture.make()
        func boxType(_ file: MediaFile) -> String? { file.bytes.getString(at: file.bytes.readerIndex + 4, length: 4) }
        #expect(boxType(try fixture.file(Fixture.video, "init.mp4")) == "ftyp")
        #expect(boxType(try fixture.file(Fixture.video, "s1.p2.m4s")) == "moof")
        // A whole segment is its parts, end to end.
        var parts = ByteBuffer()
        for index in 0..<4 { parts.writeImmutableBuffer(try fixture.file(Fixture.video, "s0.p\(index).m4s").bytes) }
        #expect(try fixture.file(Fixture.video, "s0.m4s").bytes == parts)
        #expect(fixture.stream.rendition(named: Fixture.video)?.fileInMemory(.part(msn: 0, index: 4)) == nil)
    }

    @Test func aHeadRequestGetsTheHeadersWithoutTheBody() async throws {
        let fixture = try await Fixture.make()
        let file = try fixture.file(Fixture.video, "s1.p0.m4s")
        let channel = try fastPath(fixture)
        try send(Self.request(.head, "/live/demo/720p/s1.p0.m4s"), to: channel)
        let parts = try written(channel)
        try #require(parts.count == 2, "\(parts)")
        guard case .head(let response) = parts[0], case .end(nil) = parts[1] else {
            Issue.record("not head, end: \(parts)")
            return
        }
        #expect(response.status == .ok)
        #expect(Self.lines(response.headerFields).lines == Self.expectedFields(file, contentType: MediaResponse.videoType))
        #expect(try passedOn(channel).isEmpty)
        _ = try channel.finish()
    }

    // MARK: The fast path leaves to the router

    static let leftToTheRouter: [(String, HTTPRequest)] = [
        ("a part not made yet", get("/live/demo/720p/s3.p0.m4s")),
        ("a part past its segment's end", get("/live/demo/720p/s0.p4.m4s")),
        ("a segment not made", get("/live/demo/720p/s7.m4s")),
        ("an unknown rendition", get("/live/demo/1080p/s0.p0.m4s")),
        ("an unknown channel", get("/live/other/720p/s0.p0.m4s")),
        ("the playlist", get("/live/demo/720p/index.m3u8")),
        ("a range", get("/live/demo/720p/s0.p0.m4s", [.range: "bytes=0-99"])),
        ("a conditional", get("/live/demo/720p/s0.p0.m4s", [.ifNoneMatch: "\"x\""])),
        ("a dated conditional", get("/live/demo/720p/s0.p0.m4s", [.ifModifiedSince: "Thu, 01 Jan 1970 00:00:00 GMT"])),
        ("a query", get("/live/demo/720p/s0.p0.m4s?x=1")),
        ("an escape", get("/live/demo/720p/s0%2Ep0.m4s")),
        ("a deeper path", get("/live/demo/720p/x/s0.p0.m4s")),
        ("a non-canonical name", get("/live/demo/720p/s00.p0.m4s")),
        ("not /live", get("/vod/demo/720p/s0.p0.m4s")),
        ("a POST", request(.post, "/live/demo/720p/s0.p0.m4s")),
        ("a DELETE", request(.delete, "/live/demo/720p/init.mp4")),
    ]

    @Test(arguments: leftToTheRouter)
    func whatTheFastPathLeavesToTheRouterGoesOnUnchanged(_ why: String, _ request: HTTPRequest) async throws {
        let fixture = try await Fixture.make()
        let channel = try fastPath(fixture)
        let body = ByteBuffer(string: "body")
        try channel.writeInbound(HTTPRequestPart.head(request))
        try channel.writeInbound(HTTPRequestPart.body(body))
        try channel.writeInbound(HTTPRequestPart.end(nil))
        #expect(try passedOn(channel) == [.head(request), .body(body), .end(nil)], "\(why)")
        #expect(try written(channel).isEmpty, "\(why): nothing written")
        // The router's answer goes out through the fast path unchanged.
        let response = HTTPResponse(status: .notFound, headerFields: [.contentLength: "0"])
        try channel.writeOutbound(HTTPResponsePart.head(response))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(try written(channel) == [.head(response), .end(nil)])
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    // MARK: Order and connection

    @Test func whileTheRouterOwesAResponseLaterRequestsGoToItToo() async throws {
        let fixture = try await Fixture.make()
        let channel = try fastPath(fixture)
        let slow = Self.get("/live/demo/720p/index.m3u8")
        let part = Self.get("/live/demo/720p/s0.p1.m4s")
        let other = Self.get("/live/demo/720p/s0.p2.m4s")
        try send(slow, to: channel)
        try send(part, to: channel)
        // The part is in memory, but answering it here would overtake the playlist.
        #expect(try passedOn(channel) == [.head(slow), .end(nil), .head(part), .end(nil)])
        #expect(try written(channel).isEmpty)

        // The router answers the playlist; it still owes the part, so the next goes to it as well.
        let playlist = HTTPResponse(status: .ok, headerFields: [.contentType: MediaResponse.playlistType])
        try channel.writeOutbound(HTTPResponsePart.head(playlist))
        try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: "#EXTM3U\n")))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        try send(other, to: channel)
        #expect(try passedOn(channel) == [.head(other), .end(nil)])

        // Once the router has ended every response it owes, the fast path answers again.
        let routed = HTTPResponse(status: .ok)
        for _ in 0..<2 {
            try channel.writeOutbound(HTTPResponsePart.head(routed))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }
        _ = try written(channel)
        try send(Self.get("/live/demo/720p/s0.p3.m4s"), to: channel)
        #expect(try passedOn(channel).isEmpty)
        let answer = try written(channel)
        #expect(answer.count == 3)
        if case .body(let body) = answer.dropFirst().first {
            #expect(body == (try fixture.file(Fixture.video, "s0.p3.m4s")).bytes)
        } else {
            Issue.record("no body: \(answer)")
        }
        _ = try channel.finish()
    }

    @Test func answersInARowStayInOrder() async throws {
        let fixture = try await Fixture.make()
        let channel = try fastPath(fixture)
        let names = ["init.mp4", "s0.p0.m4s", "s0.p1.m4s", "s0.p2.m4s"]
        for name in names { try send(Self.get("/live/demo/720p/\(name)"), to: channel) }
        let bodies = try written(channel).compactMap { part -> ByteBuffer? in if case .body(let b) = part { b } else { nil } }
        #expect(bodies == (try names.map { try fixture.file(Fixture.video, $0).bytes }))
        #expect(try passedOn(channel).isEmpty)
        _ = try channel.finish()
    }

    @Test(arguments: ["close", "Close", "keep-alive, close"])
    func connectionCloseClosesAfterTheAnswer(_ value: String) async throws {
        let fixture = try await Fixture.make()
        let channel = try fastPath(fixture)
        try send(Self.get("/live/demo/720p/s1.p1.m4s", [.connection: value]), to: channel)
        let parts = try written(channel)
        #expect(parts.count == 3)
        #expect(parts.last == .end(nil))
        #expect(!channel.isActive, "closed once the answer is flushed")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func anUnwritableChannelLeavesTheRequestToTheRouter() async throws {
        let fixture = try await Fixture.make()
        let channel = try fastPath(fixture)
        channel.isWritable = false
        let part = Self.get("/live/demo/720p/s1.p1.m4s")
        try send(part, to: channel)
        #expect(try passedOn(channel) == [.head(part), .end(nil)])
        #expect(try written(channel).isEmpty)
        // Writable again and the router's response ended: answered here again.
        channel.isWritable = true
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
        _ = try written(channel)
        try send(part, to: channel)
        #expect(try passedOn(channel).isEmpty)
        #expect(try written(channel).count == 3)
        _ = try channel.finish()
    }
}

// MARK: - The raw path on a connection

/// Stands in for Hummingbird's HTTP/1.1 set-up with the WebSocket upgrade (`Gateway.application`):
/// the additional handlers (the fast path) join once the first request head is decoded, while the
/// raw path (put in front by `GuardedChildChannel`) has read the connection from its first byte.
/// Records every request head that went through HTTP decoding.
final class JoinOnFirstHead: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let directory: PlaybackDirectory
    private(set) var decoded: [String] = []

    init(directory: PlaybackDirectory) {
        self.directory = directory
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            if decoded.isEmpty {
                try! context.pipeline.syncOperations.addHandler(LiveMediaFastPath(directory: directory), position: .after(self))
            }
            decoded.append(head.path ?? "")
        }
        context.fireChannelRead(data)
    }
}

/// One response read back from a connection's bytes.
struct WireResponse: CustomStringConvertible {
    var statusLine: String
    /// `Name: value`, in order, without `Date`.
    var fields: [String]
    var date: String?
    var body: ByteBuffer

    var description: String { "\(statusLine) \(fields) \(body.readableBytes) bytes" }

    /// Splits `bytes` into responses; bodies by Content-Length, none for answers to HEAD (`heads`
    /// says which, in order).
    static func parse(_ bytes: ByteBuffer, heads: [Bool]) throws -> [WireResponse] {
        var bytes = bytes
        var responses: [WireResponse] = []
        var index = 0
        while bytes.readableBytes > 0 {
            guard let length = LiveMediaRawPath.headLength(bytes), let text = bytes.readString(length: length) else {
                throw FixtureError("no whole response head in \(bytes.readableBytes) bytes")
            }
            var lines = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            let statusLine = lines.removeFirst()
            let date = lines.first { $0.hasPrefix("Date: ") }.map { String($0.dropFirst(6)) }
            let size = lines.first { $0.lowercased().hasPrefix("content-length: ") }.flatMap { Int($0.dropFirst(16)) } ?? 0
            let isHead = index < heads.count ? heads[index] : false
            guard let body = bytes.readSlice(length: isHead ? 0 : size) else { throw FixtureError("short body after \(statusLine)") }
            responses.append(WireResponse(statusLine: statusLine, fields: lines.filter { !$0.hasPrefix("Date: ") }, date: date, body: body))
            index += 1
        }
        return responses
    }
}

extension LiveMediaFastPathTests {
    /// A new plain HTTP/1.1 connection as the gateway builds it: the raw path in front of HTTP
    /// decoding from the first byte, the fast path joining at the first decoded head.
    func newConnection(_ fixture: Fixture) throws -> (EmbeddedChannel, JoinOnFirstHead) {
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        try channel.pipeline.syncOperations.addHandler(LiveMediaRawPath(directory: fixture.directory))
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        let join = JoinOnFirstHead(directory: fixture.directory)
        try channel.pipeline.syncOperations.addHandler(join)
        return (channel, join)
    }

    /// The same, after a first request the router answered.
    func connection(_ fixture: Fixture) throws -> (EmbeddedChannel, JoinOnFirstHead) {
        let (channel, join) = try newConnection(fixture)
        try channel.writeInbound(ByteBuffer(string: "GET /v1/streams HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(try passedOn(channel).count == 2)
        try answerAsTheRouter(channel)
        #expect(try wire(channel).first?.statusLine == "HTTP/1.1 200 OK")
        #expect(join.decoded == ["/v1/streams"])
        return (channel, join)
    }

    func answerAsTheRouter(_ channel: EmbeddedChannel, status: HTTPResponse.Status = .ok) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: status, headerFields: [.contentLength: "2"])))
        try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: "[]")))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    /// Everything written to the connection so far, as responses.
    func wire(_ channel: EmbeddedChannel, heads: [Bool] = []) throws -> [WireResponse] {
        var all = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&buffer) }
        return try WireResponse.parse(all, heads: heads)
    }

    func checkAnswer(
        _ response: WireResponse?, _ file: MediaFile, contentType: String = MediaResponse.videoType, head: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard let response else {
            Issue.record("no response", sourceLocation: sourceLocation)
            return
        }
        #expect(response.statusLine == "HTTP/1.1 200 OK", sourceLocation: sourceLocation)
        #expect(response.fields == Self.expectedFields(file, contentType: contentType), sourceLocation: sourceLocation)
        Self.checkDate(response.date, sourceLocation: sourceLocation)
        #expect(response.body == (head ? ByteBuffer() : file.bytes), sourceLocation: sourceLocation)
    }

    @Test(arguments: [
        ("GET", PlaybackFixture.video, "s1.p2.m4s", MediaResponse.videoType),
        ("GET", PlaybackFixture.video, "s1.m4s", MediaResponse.videoType),
        ("GET", PlaybackFixture.audio, "init.mp4", MediaResponse.audioType),
        ("HEAD", PlaybackFixture.video, "s2.p0.m4s", MediaResponse.videoType),
    ])
    func aLaterRequestIsAnsweredFromItsBytes(method: String, rendition: String, name: String, contentType: String) async throws {
        let fixture = try await Fixture.make()
        let file = try fixture.file(rendition, name)
        let (channel, join) = try connection(fixture)
        try channel.writeInbound(
            ByteBuffer(string: "\(method) /live/demo/\(rendition)/\(name) HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n"))
        let responses = try wire(channel, heads: [method == "HEAD"])
        try #require(responses.count == 1, "\(responses)")
        checkAnswer(responses[0], file, contentType: contentType, head: method == "HEAD")
        #expect(join.decoded == ["/v1/streams"], "answered before HTTP decoding")
        #expect(try passedOn(channel).isEmpty)
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test func bothPathsSendTheSameHead() async throws {
        // The fast path's head, encoded, and the raw path's, for one file: same fields, same order.
        let fixture = try await Fixture.make()
        let request = "GET /live/demo/audio/s1.p1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
        let (channel, join) = try connection(fixture)
        try channel.writeInbound(ByteBuffer(string: request))
        let raw = try wire(channel)
        #expect(join.decoded.count == 1)

        // The same request as a connection's first goes through HTTP decoding to the fast path.
        let first = EmbeddedChannel()
        try first.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        try first.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false)
        try first.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        let firstJoin = JoinOnFirstHead(directory: fixture.directory)
        try first.pipeline.syncOperations.addHandler(firstJoin)
        try first.writeInbound(ByteBuffer(string: request))
        #expect(firstJoin.decoded.count == 1)
        let decoded = try wire(first)
        #expect(try passedOn(first).isEmpty)

        try #require(raw.count == 1 && decoded.count == 1)
        #expect(raw[0].statusLine == decoded[0].statusLine)
        #expect(raw[0].fields == decoded[0].fields)
        #expect(raw[0].body == decoded[0].body)
        checkAnswer(raw[0], try fixture.file(Fixture.audio, "s1.p1.m4s"), contentType: MediaResponse.audioType)
        _ = try channel.finish()
        _ = try first.finish()
    }

    @Test func pipelinedRequestsInOneReadAreAnsweredInOrder() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try connection(fixture)
        try channel.writeInbound(
            ByteBuffer(
                string:
                    "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "HEAD /live/demo/720p/init.mp4 HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /live/demo/720p/s0.p1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        let responses = try wire(channel, heads: [false, true, false])
        try #require(responses.count == 3, "\(responses)")
        checkAnswer(responses[0], try fixture.file(Fixture.video, "s0.p0.m4s"))
        checkAnswer(responses[1], try fixture.file(Fixture.video, "init.mp4"), head: true)
        checkAnswer(responses[2], try fixture.file(Fixture.video, "s0.p1.m4s"))
        #expect(join.decoded.count == 1)
        _ = try channel.finish()
    }

    @Test func afterARequestForTheRouterTheRestOfTheReadWaitsForIt() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try connection(fixture)
        try channel.writeInbound(
            ByteBuffer(
                string:
                    "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /live/demo/720p/index.m3u8 HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /live/demo/720p/s0.p1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        // The first is answered from its bytes; the playlist goes to the router, and the part after
        // it too, since the router answers it after the playlist.
        let answered = try wire(channel)
        try #require(answered.count == 1, "\(answered)")
        checkAnswer(answered[0], try fixture.file(Fixture.video, "s0.p0.m4s"))
        #expect(join.decoded == ["/v1/streams", "/live/demo/720p/index.m3u8", "/live/demo/720p/s0.p1.m4s"])
        let parts = try passedOn(channel)
        #expect(parts.count == 4)
        #expect(parts.first.flatMap { if case .head(let h) = $0 { h.path } else { nil } } == "/live/demo/720p/index.m3u8")

        // While the router owes both, a later read is decoded and handed to it as well.
        try channel.writeInbound(ByteBuffer(string: "GET /live/demo/720p/s0.p2.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(try wire(channel).isEmpty)
        #expect(try passedOn(channel).count == 2)
        for _ in 0..<3 { try answerAsTheRouter(channel) }
        #expect(try wire(channel).count == 3)

        // It has answered everything: the raw path answers again.
        try channel.writeInbound(ByteBuffer(string: "GET /live/demo/720p/s0.p3.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        checkAnswer(try wire(channel).first, try fixture.file(Fixture.video, "s0.p3.m4s"))
        #expect(join.decoded.count == 4)
        _ = try channel.finish()
    }

    @Test func aRequestSplitAcrossReadsIsDecodedAndAnsweredByTheFastPath() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try connection(fixture)
        let request = "GET /live/demo/720p/s1.p1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
        for piece in [request.prefix(9), request.dropFirst(9).prefix(30), request.dropFirst(39)] {
            try channel.writeInbound(ByteBuffer(string: String(piece)))
        }
        #expect(join.decoded == ["/v1/streams", "/live/demo/720p/s1.p1.m4s"], "went through HTTP decoding")
        checkAnswer(try wire(channel).first, try fixture.file(Fixture.video, "s1.p1.m4s"))
        // The raw path reads no more of this connection: a whole request later is decoded too.
        try channel.writeInbound(ByteBuffer(string: "GET /live/demo/720p/s1.p2.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(join.decoded.count == 3)
        checkAnswer(try wire(channel).first, try fixture.file(Fixture.video, "s1.p2.m4s"))
        #expect(try passedOn(channel).isEmpty)
        _ = try channel.finish()
    }

    /// The raw path alone, with the packaged session, on its own connection state.
    func rawPath(_ fixture: Fixture) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: LiveMediaRawPath(directory: fixture.directory))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        return channel
    }

    @Test(arguments: [
        ("split", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHo", "st: h\r\n\r\n"]),
        ("oversized, no end", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 80_000), "\r\n\r\n"]),
        ("a body", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"]),
        ("chunked", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"]),
        ("HTTP/1.0", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.0\r\n\r\n"]),
        ("garbage", ["\u{0}\u{1}GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\n\r\n"]),
        ("a bare line", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nno colon\r\n\r\n"]),
        ("a range", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n"]),
        ("If-Match", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nIf-Match: \"x\"\r\n\r\n"]),
        ("an upgrade", ["GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"]),
    ])
    func bytesTheRawPathCannotAnswerReachTheDecoderUnchanged(_ why: String, _ reads: [String]) async throws {
        let fixture = try await Fixture.make()
        let channel = try rawPath(fixture)
        for read in reads { try channel.writeInbound(ByteBuffer(string: read)) }
        #expect(try forwarded(channel) == reads.joined(), "\(why)")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "\(why): nothing answered")
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test(arguments: [
        ("split", "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\n"),
        ("a body", "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"),
        ("garbage", "\u{0}\u{1}\u{2}\r\n\r\n"),
        ("a pipelined tail", "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\n\r\nGET /live/demo/720p/s0.p1.m4s HT"),
    ])
    func afterBytesItCannotReadTheRawPathReadsNoMore(_ why: String, _ read: String) async throws {
        let fixture = try await Fixture.make()
        let channel = try rawPath(fixture)
        try channel.writeInbound(ByteBuffer(string: read))
        var out = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { out.writeBuffer(&buffer) }
        _ = try forwarded(channel)
        // A whole request for a part in memory, in a read of its own: passed on, not answered.
        let later = "GET /live/demo/720p/s0.p2.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: later))
        #expect(try forwarded(channel) == later, "\(why)")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "\(why)")
        _ = try channel.finish()
    }

    @Test func garbageOnAConnectionIsTheDecodersError() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try connection(fixture)
        #expect(throws: HTTPParserError.self) {
            try channel.writeInbound(ByteBuffer(string: "\u{0}\u{1}\u{2} not http\r\n\r\n"))
        }
        #expect(try wire(channel).isEmpty, "nothing answered")
        #expect(join.decoded.count == 1)
        _ = try? channel.finish()
    }

    @Test func connectionCloseOnTheRawPathClosesAfterTheAnswer() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try connection(fixture)
        try channel.writeInbound(
            ByteBuffer(
                string:
                    "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                    + "GET /live/demo/720p/s0.p1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        let responses = try wire(channel)
        try #require(responses.count == 1, "\(responses)")
        checkAnswer(responses[0], try fixture.file(Fixture.video, "s0.p0.m4s"))
        #expect(!channel.isActive, "closed after the answer")
        #expect(join.decoded.count == 1, "what followed the close is not read")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test func anUnwritableConnectionLeavesTheRequestToTheRouter() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try connection(fixture)
        channel.isWritable = false
        try channel.writeInbound(ByteBuffer(string: "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        #expect(try wire(channel).isEmpty)
        #expect(join.decoded.last == "/live/demo/720p/s0.p0.m4s")
        #expect(try passedOn(channel).count == 2, "handed to the router")
        _ = try channel.finish()
    }
}

// MARK: - Where a request starts

extension LiveMediaFastPathTests {
    /// The raw path reads the connection from its first byte, so it never takes the middle of a
    /// request for the start of one. Here the first read ends just before the blank line of the
    /// second request; the next brings that blank line and a third request. Were the raw path to
    /// join after the first read, it would parse the third request (empty lines are skipped) and
    /// answer it first: part 1's bytes as the answer to the request for part 0, under headers a
    /// cache keeps for a year. Instead the three are answered in order.
    @Test func aRequestCutAcrossTheFirstReadsIsAnsweredInOrder() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try newConnection(fixture)
        try expectSplitPipelineAnsweredInOrder(channel, fixture)
        #expect(join.decoded == ["/live/demo/720p/s0.p0.m4s", "/live/demo/720p/s0.p1.m4s"], "the rest went through HTTP decoding")
        _ = try channel.finish()
    }

    /// Sends init and a part 0 request cut before its blank line, then the line and a part 1
    /// request in the next read; expects the three files, in order.
    func expectSplitPipelineAnsweredInOrder(_ channel: EmbeddedChannel, _ fixture: Fixture) throws {
        try channel.writeInbound(
            ByteBuffer(
                string:
                    "GET /live/demo/720p/init.mp4 HTTP/1.1\r\nHost: h\r\n\r\n"
                    + "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\n"))
        try channel.writeInbound(ByteBuffer(string: "\r\nGET /live/demo/720p/s0.p1.m4s HTTP/1.1\r\nHost: h\r\n\r\n"))
        let bodies = try wire(channel).map(\.body)
        let expected = try ["init.mp4", "s0.p0.m4s", "s0.p1.m4s"].map { try fixture.file(Fixture.video, $0).bytes }
        #expect(bodies == expected)
    }

    /// The same in the gateway's own set-up of the plain port: `GuardedChildChannel` around
    /// Hummingbird's HTTP/1.1 channel with the WebSocket upgrade, the fast path as an additional
    /// handler (`Gateway.application`).
    @Test func theGatewaysConnectionSetUpAnswersInOrder() async throws {
        let fixture = try await Fixture.make()
        let directory = fixture.directory
        let setUp = GuardedChildChannel(
            inner: HTTP1WebSocketUpgradeChannel(
                responder: { _, _, _ in },
                configuration: .init(http1: .init(additionalChannelHandlers: [LiveMediaFastPath(directory: directory)])),
                shouldUpgrade: { _, _, _ in .dontUpgrade }),
            connectionGuard: ConnectionGuard(limits: HTTPLimits(), logger: Logger(label: "test")), scansHeads: true,
            front: { [LiveMediaRawPath(directory: directory)] })
        let channel = EmbeddedChannel()
        _ = try setUp.setup(channel: channel, logger: Logger(label: "test")).wait()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).wait()
        try expectSplitPipelineAnsweredInOrder(channel, fixture)
        _ = try? channel.finish()
    }

    /// A body is never taken for requests: after a request with a body the raw path reads no more
    /// of the connection, so a body that is itself a request for a part reaches the router as the
    /// body it is (behind a proxy that reuses connections, an answer to it would go to the next
    /// client).
    @Test func aBodyThatLooksLikeARequestReachesTheRouterAsABody() async throws {
        let fixture = try await Fixture.make()
        let (channel, join) = try newConnection(fixture)
        let smuggled = "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
        try channel.writeInbound(
            ByteBuffer(string: "POST /v1/nowhere HTTP/1.1\r\nHost: h\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n"))
        #expect(try passedOn(channel).count == 1, "the head reaches the router")
        try answerAsTheRouter(channel, status: .notFound)
        #expect(try wire(channel).count == 1)
        try channel.writeInbound(ByteBuffer(string: smuggled))
        #expect(try wire(channel).isEmpty, "no response for a body")
        #expect(try passedOn(channel) == [.body(ByteBuffer(string: smuggled)), .end(nil)], "the body reaches the router")
        #expect(join.decoded == ["/v1/nowhere"])
        _ = try? channel.finish()
    }

    /// After a request that may upgrade the connection, what follows may be WebSocket frames: the
    /// raw path hands everything on.
    @Test func afterAnUpgradeRequestTheRawPathReadsNoMore() async throws {
        let fixture = try await Fixture.make()
        let channel = try rawPath(fixture)
        try channel.writeInbound(
            ByteBuffer(
                string: "GET /v1/chat/demo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
        let part = "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: part))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil, "nothing answered")
        #expect(try forwarded(channel).hasSuffix(part))
        _ = try? channel.finish()
    }
}

// MARK: - Viewers

extension LiveMediaFastPathTests {
    /// Each path counts the clients it answers, told apart by User-Agent on one address, and
    /// leaves a request with CMCD headers to the router, which reads them.
    @Test func bothPathsCountTheirClientsAndLeaveCMCDToTheRouter() async throws {
        let fixture = try await Fixture.make()
        let audience = Audience()
        let raw = EmbeddedChannel(handler: LiveMediaRawPath(directory: fixture.directory, audience: audience))
        try await raw.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).get()
        try raw.writeInbound(ByteBuffer(string: "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: h\r\nUser-Agent: one\r\n\r\n"))
        #expect(try raw.readOutbound(as: ByteBuffer.self) != nil, "answered from memory")
        let withCMCD = "GET /live/demo/720p/s0.p1.m4s HTTP/1.1\r\nHost: h\r\nUser-Agent: one\r\nCMCD-Session: sid=\"x\"\r\n\r\n"
        try raw.writeInbound(ByteBuffer(string: withCMCD))
        #expect(try forwarded(raw) == withCMCD)

        let http = EmbeddedChannel()
        try http.pipeline.syncOperations.addHandler(LiveMediaFastPath(directory: fixture.directory, audience: audience))
        try await http.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8080)).get()
        try send(Self.get("/live/demo/720p/s0.p0.m4s", [.userAgent: "two"]), to: http)
        #expect(try written(http).count == 3, "head, body and end")
        try send(Self.get("/live/demo/720p/s0.p0.m4s", [.userAgent: "two", .cmcdRequest: "bl=100"]), to: http)
        #expect(try passedOn(http).count == 2, "to the router")

        #expect(audience.viewers.counts() == ["demo": 2], "one and two")
        #expect(audience.viewers.viewers(session: fixture.sessionID)?.viewers == 2)
        _ = try raw.finish()
        _ = try http.finish()
    }
}
