import EventStore
import Foundation
import TestSupport
import Testing

/// `--tls-cert`/`--tls-key`: the same routes over HTTP/2 with TLS, beside plain HTTP/1.1.
@Suite struct TLSTests {
    @Test(.timeLimit(.minutes(2))) func httpsServesHTTP2AndBadFilesStopStartupWithAReason() async throws {
        let folder = NSTemporaryDirectory() + "streamd-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let made = try await Subprocess.runDetached(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                "-keyout", "\(folder)/key.pem", "-out", "\(folder)/cert.pem",
            ])
        #expect(made.status == 0, "\(made.output)")
        let https = try StreamdServer.freePort()
        let server = try await StreamdServer(extra: [
            "--tls-cert", "\(folder)/cert.pem", "--tls-key", "\(folder)/key.pem", "--https-port", "\(https)",
        ])
        defer { server.removeData() }
        let curl = try await Subprocess.runDetached(
            "/usr/bin/curl",
            [
                "-sk", "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "https://127.0.0.1:\(https)/healthz",
            ])
        #expect(curl.output == "2 200", "HTTP/2 over TLS: \(curl.output)")
        let plain = try await Subprocess.runDetached(
            "/usr/bin/curl",
            [
                "-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "\(server.base)/healthz",
            ])
        #expect(plain.output == "1.1 200", "plain port: \(plain.output)")
        let (status, output) = try await server.stop()
        #expect(status == 0)
        #expect(output.contains("HTTPS:       https://127.0.0.1:\(https)"), "\(output.prefix(800))")

        let broken = try await Subprocess.runDetached(
            try Binaries.streamd(),
            [
                "serve", "--database-url", server.database.urlString, "--data-dir", server.dataDir, "--host", "127.0.0.1",
                "--http-port", "\(try StreamdServer.freePort())", "--rtmp-port", "\(try StreamdServer.freePort())", "--srt-port", "0",
                "--admin-token", server.token, "--tls-cert", "\(folder)/missing.pem", "--tls-key", "\(folder)/key.pem",
            ])
        #expect(broken.status == 1)
        #expect(broken.output.contains("cannot read the TLS certificate chain"), "\(broken.output.suffix(400))")
    }
}
