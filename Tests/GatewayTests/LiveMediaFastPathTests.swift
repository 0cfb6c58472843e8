import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import Packager
import Testing
@testable import Gateway

/// Both playback fast paths on an `EmbeddedChannel`: what they cannot answer from memory reaches the
/// next handler unchanged, and nothing is written for it.
@Suite struct LiveMediaFastPathTests {
    // MARK: The raw path, in front of HTTP decoding

    func rawChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: LiveMediaRawPath(directory: PlaybackDirectory(), connection: FastPathConnection()))
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

    // MARK: The fast path, after HTTP decoding

    func fastChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(LiveMediaFastPath(directory: PlaybackDirectory()))
        // It puts the raw path in front for a real connection's later requests; this test feeds
        // decoded parts, so only the fast path stays.
        let raw = try channel.pipeline.syncOperations.handler(type: LiveMediaRawPath.self)
        try channel.pipeline.syncOperations.removeHandler(raw).wait()
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
