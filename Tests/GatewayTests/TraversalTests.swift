import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import Gateway

/// Issue 22, item 7: path traversal on the playback routes. A file is planted beside the origin
/// store's folder; every way of climbing out of `/live/…` and `/vod/…` (`..`, `%2e%2e`, encoded
/// slashes, double encoding, backslashes, absolute paths) is answered 400 or 404 and never with
/// the planted bytes: through the router, and over raw sockets, where the live-media raw path
/// reads the request before any HTTP decoding.
@Suite(.serialized) struct TraversalTests {
    static let session = "0b7a4a52-8c4a-4c55-9b8e-3f1d2a6e0c11"

    /// Paths that would reach `planted` (named relative to the origin root's parent) if any part
    /// of the server resolved them as file paths.
    static func attempts(planted name: String, absolute: String) -> [String] {
        let encodedAbsolute = absolute.replacingOccurrences(of: "/", with: "%2f")
        var paths: [String] = []
        for prefix in ["/live/demo/720p", "/live/demo", "/live", "/vod/\(session)/720p", "/vod/\(session)", "/vod"] {
            paths += [
                "\(prefix)/../\(name)", "\(prefix)/../../\(name)", "\(prefix)/../../../\(name)", "\(prefix)/../../../../\(name)",
                "\(prefix)/..%2f\(name)", "\(prefix)/..%2f..%2f\(name)", "\(prefix)/..%2f..%2f..%2f..%2f\(name)",
                "\(prefix)/%2e%2e/\(name)", "\(prefix)/%2e%2e/%2e%2e/%2e%2e/\(name)", "\(prefix)/%2e%2e%2f%2e%2e%2f\(name)",
                "\(prefix)/%2E%2E%2F%2E%2E%2F%2E%2E%2F\(name)", "\(prefix)/.%2e/.%2e/\(name)", "\(prefix)/%252e%252e%252f\(name)",
                "\(prefix)/%252e%252e/%252e%252e/\(name)", "\(prefix)/..%252f..%252f\(name)", "\(prefix)/..\\..\\\(name)",
                "\(prefix)/..%5c..%5c\(name)", "\(prefix)/%2e%2e%5c%2e%2e%5c\(name)", "\(prefix)/\(encodedAbsolute)",
                "\(prefix)/%2fetc%2fpasswd", "\(prefix)/..;/\(name)", "\(prefix)/%c0%ae%c0%ae/\(name)",
            ]
        }
        // Climbing inside a route's own parameters, with real media on either side.
        paths += [
            "/live/demo/720p/s0.m4s/../../../../\(name)", "/live/demo/..%2f..%2f/s0.m4s", "/live/..%2f..%2f\(name)/720p/init.mp4",
            "/live/demo/..%2f..%2f\(name)/init.mp4", "/live/demo/720p/..%2f..%2f..%2f\(name)%00.m4s",
            "/vod/..%2f..%2f\(name)/720p/init.mp4", "/vod/\(session)/..%2f..%2f\(name)/init.mp4",
            "/vod/\(session)/720p/..%2f..%2f..%2f\(name)", "/vod/%2e%2e/720p/s0.m4s", "/vod/\(session)/%2e%2e/init.mp4",
        ]
        return paths
    }

    struct Planted {
        let name: String
        let url: URL
        let content: String
    }

    static func plant(beside media: URL) throws -> Planted {
        let content = "PLANTED-OUTSIDE-THE-MEDIA-FOLDER-\(UUID().uuidString)"
        let name = "planted-\(UUID().uuidString.prefix(8)).m4s"
        let url = media.deletingLastPathComponent().appendingPathComponent(name)
        try Data(content.utf8).write(to: url)
        // Also where a path climbing out of a session's rendition folder would land.
        try FileManager.default.createDirectory(
            at: media.appendingPathComponent("\(session)/720p"), withIntermediateDirectories: true)
        try Data(content.utf8).write(to: media.appendingPathComponent(session).appendingPathComponent(name))
        return Planted(name: name, url: url, content: content)
    }

    @Test(.timeLimit(.minutes(3))) func throughTheRouter() async throws {
        try await AuthorizationMatrixTests.withHarness("traversal-router") { harness in
            let planted = try Self.plant(beside: harness.media)
            let app = Application(router: harness.gateway.router())
            try await app.test(.router) { client in
                try await client.execute(uri: "/live/demo/720p/s0.m4s", method: .get) { response in
                    #expect(response.status == .ok, "the control: real media is served")
                }
                for path in Self.attempts(planted: planted.name, absolute: planted.url.path) {
                    for method in [HTTPRequest.Method.get, .head] {
                        try await client.execute(uri: path, method: method) { response in
                            #expect([400, 404].contains(response.status.code), "\(method) \(path): \(response.status)")
                            #expect(!String(buffer: response.body).contains(planted.content), "\(method) \(path) served the planted file")
                        }
                    }
                }
            }
        }
    }

    /// Raw bytes on a real server: requests for `/live/…` meet `LiveMediaRawPath` before HTTP
    /// decoding, then the HTTP-level fast path, then the router.
    @Test(.timeLimit(.minutes(3))) func overRawSockets() async throws {
        try await AuthorizationMatrixTests.withHarness("traversal-raw") { harness in
            let planted = try Self.plant(beside: harness.media)
            let app = harness.gateway.application(logger: TestDatabase.logger)
            try await app.test(.live) { client in
                guard let port = client.port else { throw TestSupportError("no port") }
                let control = try await RawConnection.exchange(
                    port: port, "GET /live/demo/720p/s0.m4s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                #expect(control.status == 200, "the control: the raw path serves real media")
                let paths = Self.attempts(planted: planted.name, absolute: planted.url.path)
                for (index, path) in paths.enumerated() {
                    // Misses count per address (`RequestRateLimits.missed`): spread them.
                    let source = "127.0.\(index / 200 + 1).\(index % 200 + 1)"
                    for method in ["GET", "HEAD"] {
                        let answer = try await RawConnection.exchange(
                            port: port, "\(method) \(path) HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", from: source)
                        #expect([400, 404].contains(answer.status), "\(method) \(path): \(answer.text.prefix(200))")
                        #expect(!answer.contains(planted.content), "\(method) \(path) served the planted file")
                    }
                }
                // Pipelined behind a request the raw path answers from memory, on one connection.
                let connection = try await RawConnection.open(port: port, from: "127.0.9.1")
                var pipelined = "GET /live/demo/720p/s0.p0.m4s HTTP/1.1\r\nHost: t\r\n\r\n"
                for path in paths.prefix(20) { pipelined += "GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n" }
                pipelined += "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                try await connection.send(pipelined)
                let answer = try await connection.wait()
                await connection.close()
                #expect(answer.contains(#"{"status":"ok"}"#), "every pipelined request was answered")
                #expect(!answer.contains(planted.content))
                #expect(answer.text.components(separatedBy: "HTTP/1.1 200").count - 1 == 2, "only the part and /healthz are 200")
            }
        }
    }
}
