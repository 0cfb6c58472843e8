import EventStore
import Foundation
import TestSupport
import Testing

/// `/metrics` as Prometheus sees it: a real Prometheus (Debian's) scrapes `streamd serve` with the
/// metrics token while ffmpeg publishes, and PromQL reads the live ingest bitrate back.
@Suite struct MetricsTests {
    static let prometheus = "/usr/bin/prometheus"
    static let promtool = "/usr/bin/promtool"

    @Test(.timeLimit(.minutes(2))) func prometheusScrapesTheLiveIngestBitrate() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.prometheus), "Debian's prometheus is missing: run ops/install --tests")
        let secret = "scrape-secret-\(UUID().uuidString.prefix(8))"
        let server = try await StreamdServer(extra: ["--metrics-token", secret])
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }

        // The token is asked for, and what is refused says how to get in.
        let anonymous = try await server.get("/metrics")
        #expect(anonymous.status == 401)
        #expect(anonymous.text.contains("--metrics-token"), "\(anonymous.text)")
        #expect(try await server.get("/metrics", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(
            try await server.get("/metrics", headers: ["Authorization": "Bearer \(server.token)"]).status == 200, "the admin token works")

        let key = try await server.createChannel("metered")
        async let publishing = server.publish(key: key, seconds: 20)

        let folder = NSTemporaryDirectory() + "streamd-prometheus-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let port = try StreamdServer.freePort()
        try """
        global:
          scrape_interval: 1s
          scrape_timeout: 1s
        scrape_configs:
          - job_name: streamd
            authorization:
              credentials: \(secret)
            static_configs:
              - targets: ["127.0.0.1:\(server.http)"]
        """.write(toFile: folder + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try Subprocess.start(
            Self.prometheus,
            [
                "--config.file=\(folder)/prometheus.yml", "--storage.tsdb.path=\(folder)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ])
        defer { _ = prometheus.stop() }

        // PromQL: the live session's ingest bitrate, in bits per second.
        let query = "streamd_ingest_received_bytes_per_second{channel=\"metered\",protocol=\"rtmp\"} * 8"
        let bitrate = try await poll("the ingest bitrate in Prometheus", seconds: 40) { () -> Double? in
            let encoded = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? query
            guard let reply = try? await StreamdServer.request("GET", "http://127.0.0.1:\(port)/api/v1/query?query=\(encoded)"),
                reply.status == 200,
                let json = try JSONSerialization.jsonObject(with: reply.body) as? [String: Any],
                let data = json["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                let value = result.first?["value"] as? [Any], let text = value.last as? String, let bits = Double(text), bits > 0
            else { return nil }
            return bits
        }
        #expect(bitrate > 50_000 && bitrate < 20_000_000, "ffmpeg's 360p test pattern, as Prometheus stored it: \(bitrate) bit/s")

        // A player's requests, with CMCD, make a viewer and a QoE player of the channel.
        let cmcd = "sid%3D%22metrics-player%22%2Csu"
        #expect(try await server.get("/live/metered/index.m3u8?CMCD=\(cmcd)").status == 200)

        // The exposition passes Prometheus's own linter, with every family described.
        let scraped = try await server.get("/metrics", headers: ["Authorization": "Bearer \(secret)"])
        #expect(scraped.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let exposition = folder + "/metrics.txt"
        try scraped.body.write(to: URL(fileURLWithPath: exposition))
        let lint = try Subprocess.run("/bin/sh", ["-c", "\(Self.promtool) check metrics < \(exposition)"])
        #expect(lint.status == 0, "promtool check metrics: \(lint.output)")
        for family in [
            "streamd_ingest_frames_total", "streamd_ingest_live_sessions", "streamd_packager_part_delay_seconds_bucket",
            "streamd_packager_part_interval_seconds_bucket", "streamd_eventlog_append_seconds_bucket", "streamd_http_requests_total",
            "streamd_projection_lag_events", "process_resident_memory_bytes", "process_open_fds", "streamd_viewers",
            "streamd_cmcd_requests_total",
        ] {
            #expect(scraped.text.contains("\n\(family)"), "\(family) is missing from /metrics")
        }
        _ = try await publishing
    }
}
