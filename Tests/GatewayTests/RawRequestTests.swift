import NIOCore
import Packager
import Testing

@testable import Gateway

struct RawRequestTests {
    private func request(_ text: String) -> RawRequest? {
        RawRequest(ByteBuffer(string: text))
    }

    @Test func aPlainPartRequestIsALiveTarget() throws {
        let parsed = try #require(request("GET /live/demo/720p/s12.p3.m4s HTTP/1.1\r\nHost: x\r\nUser-Agent: hls.js\r\n\r\n"))
        #expect(!parsed.isHead && !parsed.hasBody && !parsed.close && !parsed.special)
        let target = try #require(parsed.liveTarget)
        #expect(target.channel == "demo" && target.rendition == "720p" && target.resource == .part(msn: 12, index: 3))
        #expect(request("HEAD /live/demo/audio/init.mp4 HTTP/1.1\r\n\r\n")?.isHead == true)
        #expect(request("GET /live/demo/720p/s4.m4s HTTP/1.1\r\nConnection: Close\r\n\r\n")?.close == true)
    }

    @Test func whatTheRawPathLeavesToTheRouter() {
        // Not HTTP/1.1 GET or HEAD.
        #expect(request("GET /live/demo/720p/s1.m4s HTTP/1.0\r\n\r\n") == nil)
        #expect(request("POST /live/demo/720p/s1.m4s HTTP/1.1\r\n\r\n") == nil)
        #expect(request("GET /live/demo/720p/s1.m4s\r\n\r\n") == nil)
        #expect(request("GET /live/demo/720p/s1.m4s HTTP/1.1\r\nno colon here\r\n\r\n") == nil)
        #expect(request("\u{FF}\u{FE}garbage\r\n\r\n") == nil)
        // Bodies end the raw path for the connection.
        #expect(request("GET /live/a/b/s1.m4s HTTP/1.1\r\nContent-Length: 5\r\n\r\n")?.hasBody == true)
        #expect(request("GET /live/a/b/s1.m4s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")?.hasBody == true)
        #expect(request("GET /live/a/b/s1.m4s HTTP/1.1\r\nContent-Length: 0\r\n\r\n")?.hasBody == false)
        // Ranges, conditionals and upgrades go to the router.
        for header in [
            "Range: bytes=0-9", "If-None-Match: \"x\"", "if-modified-since: Thu, 01 Jan 1970 00:00:00 GMT", "Upgrade: websocket",
            "Expect: 100-continue",
        ] {
            #expect(request("GET /live/a/b/s1.m4s HTTP/1.1\r\n\(header)\r\n\r\n")?.liveTarget == nil, "\(header)")
        }
        // Only /live/CHANNEL/RENDITION/MEDIA, verbatim.
        for path in [
            "/live/a/b/index.m3u8", "/live/a/b/s1.m4s?x=1", "/live/a%2Fb/c/s1.m4s", "/live/a/s1.m4s", "/live/a/b/c/s1.m4s",
            "/vod/a/b/s1.m4s", "/live//b/s1.m4s", "/live/a/b/s01.m4s", "/live/a/b/",
        ] {
            #expect(request("GET \(path) HTTP/1.1\r\n\r\n")?.liveTarget == nil, "\(path)")
        }
    }

    /// Heads NIO's HTTP decoder refuses or reads differently go to it untouched (ops/fuzz's
    /// http-raw target found the first two and the tab in the target: the raw path framed them
    /// as requests, the decoder refused them).
    @Test func headsTheDecoderReadsOtherwiseGoToIt() {
        for head in [
            "GET /live/demo/720p/s12.m4s HTTP/1.1\r\nHost: \u{0}\u{0}1\r\n\r\n",  // NUL in a value
            "GET ve/demo/720p/s12.m4s HTTP/1.1\r\nHost: x\r\n\r\n",  // not origin-form
            "GET /live/a/b/s1.m4s HTTP/1.1\r\nContent-Length : 5\r\n\r\n",  // space before the colon
            "GET /live/a/b/s1.m4s HTTP/1.1\r\nHost: x\nContent-Length: 5\r\n\r\n",  // a bare LF
            "GET /live/a/b/s1.m4s HTTP/1.1\r\nHost: x\rY\r\n\r\n",  // a bare CR
            "GET /live/a/b/s1.m4s HTTP/1.1\r\nHost: x\r\n Content-Length: 5\r\n\r\n",  // a folded line
            "\r\nGET /live/a/b/s1.m4s HTTP/1.1\r\n\r\n",  // a blank line first
            "GET /live/a/b/s1.m4s HTTP/1.1\r\nX-\u{7F}: 1\r\n\r\n",  // DEL in a name
            "GET /live/a/b/s1.m4s HTTP/1.1\r\n: x\r\n\r\n",  // an empty name
            "GET /live/a/b/s1.m4s HTTP/1.1\r\nUser-Agent: caf\u{E9}\r\n\r\n",  // above 0x7E
            "GET /live/a/b/s1.m4s\tHTTP/1.1\r\n\r\n",  // a tab in the request line
            "HEAD /liv\t\tI HTTP/1.1\r\nHost: x\r\n\r\n",  // a tab in the target (found by http-raw)
        ] {
            #expect(request(head) == nil, "\(head.debugDescription)")
        }
        #expect(request("GET /live/a/b/s1.m4s HTTP/1.1\r\nHost:\tx \r\nAccept: */*\r\n\r\n")?.liveTarget != nil)
    }

    @Test func headsAreFoundOnlyWhenWhole() {
        #expect(LiveMediaRawPath.headLength(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET")) == 27)
        #expect(LiveMediaRawPath.headLength(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\n")) == nil)
        #expect(LiveMediaRawPath.headLength(ByteBuffer(string: "\r\n\r")) == nil)
        #expect(LiveMediaRawPath.headLength(ByteBuffer()) == nil)
    }
}
