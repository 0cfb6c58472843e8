import EventStore
import Foundation
import TestSupport
import Testing

/// Debian's nginx with `ops/nginx/streamd.conf` as it is, caching in front of two `streamd serve`
/// nodes on one PostgreSQL while ffmpeg publishes to the first: the LL-HLS rules hold through
/// it, a blocking reload is held through it, parts come from its cache after the first request
/// while playlists never do, and hls.js in low-latency mode plays through it.
@Suite struct NginxCacheTests {
    static let config = ConsoleBrowserTests.root.appendingPathComponent("ops/nginx/streamd.conf").path

    @Test(.timeLimit(.minutes(4))) func aCacheInFrontOfTwoNodesServesLLHLSAndHLSJSPlaysThroughIt() async throws {
        let one = try await StreamdServer()
        defer { one.removeData() }
        defer { Task { try? await one.stop(signal: SIGKILL) } }
        let two = try await StreamdServer(database: one.database)
        defer { two.removeData() }
        defer { Task { try? await two.stop(signal: SIGKILL) } }

        let folder = NSTemporaryDirectory() + "streamd-nginx-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder + "/logs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let port = try StreamdServer.freePort()
        let server = try String(contentsOfFile: Self.config, encoding: .utf8).replacingOccurrences(
            of: "listen 8090;", with: "listen 127.0.0.1:\(port);")
        try server.write(toFile: folder + "/streamd.conf", atomically: true, encoding: .utf8)
        let main = """
            daemon off;
            worker_processes 1;
            user root;
            pid \(folder)/nginx.pid;
            error_log \(folder)/error.log;
            events { worker_connections 1024; }
            http {
                access_log off;
                upstream streamd { server 127.0.0.1:\(one.http); server 127.0.0.1:\(two.http); keepalive 16; }
                proxy_cache_path \(folder)/cache keys_zone=streamd:8m max_size=256m inactive=10m use_temp_path=off;
                include \(folder)/streamd.conf;
            }
            """
        try main.write(toFile: folder + "/nginx.conf", atomically: true, encoding: .utf8)
        let nginx = try Subprocess.start("/usr/sbin/nginx", ["-c", folder + "/nginx.conf", "-p", folder])
        defer { _ = nginx.stop(signal: SIGQUIT) }
        let front = "http://127.0.0.1:\(port)"
        _ = try await poll("nginx to answer", seconds: 10) { () -> Bool? in
            (try? await StreamdServer.request("GET", front + "/healthz"))?.status == 200 ? true : nil
        }

        let key = try await one.createChannel("cached")
        let publisher = try one.startPublishing(key: key, seconds: 120, size: "640x360")
        defer { _ = publisher.stop(signal: SIGKILL) }
        let multivariant = try await poll("the multivariant playlist through nginx", seconds: 40) { () -> StreamdServer.Reply? in
            let reply = try await StreamdServer.request("GET", front + "/live/cached/index.m3u8")
            return reply.status == 200 ? reply : nil
        }
        let variants = try MultivariantPlaylist(multivariant.text)
        #expect(variants.problems().isEmpty, "\(variants.problems())")
        let rendition = try #require(variants.renditionNames.first)
        let others = Set(variants.renditionNames).subtracting([rendition])
        let mediaPath = "/live/cached/\(rendition)/index.m3u8"
        let media = try MediaPlaylist(try await StreamdServer.request("GET", front + mediaPath).text)
        #expect(media.liveProblems(otherRenditions: others).isEmpty, "\(media.liveProblems(otherRenditions: others))")

        // A blocking reload goes through unbuffered and comes back when the next segment exists.
        let blocking = try await StreamdServer.request("GET", front + mediaPath + "?_HLS_msn=\(media.lastMSN + 1)")
        #expect(blocking.status == 200, "\(blocking.status) \(blocking.text)")
        let reloaded = try MediaPlaylist(blocking.text)
        #expect(reloaded.segments.contains { $0.msn == media.lastMSN + 1 }, "\(blocking.text)")
        #expect(blocking.headers["x-cache-status"] == nil, "playlists are never cached")

        // A part: the first request fills the cache, the next is a hit, with the same bytes.
        let part = try #require(reloaded.segments.last?.parts.first?.uri, "\(blocking.text)")
        let first = try await StreamdServer.request("GET", front + "/live/cached/\(rendition)/\(part)")
        let second = try await StreamdServer.request("GET", front + "/live/cached/\(rendition)/\(part)")
        #expect(first.status == 200 && !first.body.isEmpty, "\(first.status)")
        #expect(second.headers["x-cache-status"] == "HIT" && second.body == first.body, "\(second.headers)")
        #expect(second.headers["cache-control"]?.contains("immutable") == true, "\(second.headers)")

        // hls.js in low-latency mode plays through the cache.
        let (figures, line) = try await Players.hlsJSPlays(
            front + "/live/cached/index.m3u8", seconds: 12, warmup: 4, artifacts: ConsoleBrowserTests.artifactsRoot + "/nginx-cache")
        #expect((figures["fatal"] as? [Any])?.isEmpty == true, "hls.js fatal errors through nginx: \(line)")
        #expect((figures["partLoads"] as? Int ?? 0) > 0 && (figures["blockingReloads"] as? Int ?? 0) > 0, "\(line)")
        #expect((figures["playedInWindow"] as? Double ?? 0) >= 0.75 * (figures["sampledInWindow"] as? Double ?? 1), "\(line)")
    }
}
