import EventStore
import Foundation
import TestSupport
import Testing

/// What a stranger or a co-tenant of the machine could learn from streamd's files, logs and events.
@Suite struct SecretsTests {
    /// A secret of the data folder, by name: the admin token, the chat secret, database passwords
    /// and initdb's password file.
    static func isSecret(_ path: String) -> Bool {
        let name = (path as NSString).lastPathComponent
        return name == "admin-token" || name == "chat-secret" || name.hasSuffix(".password") || name.hasPrefix(".initdb-pw")
    }

    /// `strace -f` over a first start on the embedded default: every secret is created by one
    /// `open(O_CREAT|O_EXCL)` with mode 0600, and never chmod-ed afterwards.
    @Test(.timeLimit(.minutes(3))) func aFirstStartCreatesEverySecretPrivateFromTheFirstByte() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") else {
            Issue.record("strace is missing: ops/install --tests installs it")
            return
        }
        let dataDir = NSTemporaryDirectory() + "streamd-strace-\(UUID().uuidString.prefix(8))"
        let trace = dataDir + ".trace"
        defer {
            try? FileManager.default.removeItem(atPath: dataDir)
            try? FileManager.default.removeItem(atPath: trace)
        }
        let http = try StreamdServer.freePort()
        let serve = try Subprocess.start(
            "/usr/bin/strace",
            [
                "-f", "-qq", "-e", "trace=open,openat,creat,chmod,fchmod,fchmodat", "-o", trace, try Binaries.streamd(), "serve",
                "--data-dir", dataDir, "--host", "127.0.0.1", "--http-port", "\(http)", "--rtmp-port", "\(try StreamdServer.freePort())",
                "--srt-port", "0",
            ])
        let up = try await poll("the first start under strace", seconds: 120) { () -> Bool? in
            let reply = try? await StreamdServer.request("GET", "http://127.0.0.1:\(http)/healthz")
            return reply?.status == 200 ? true : nil
        }
        #expect(up)
        // A signal to strace would only detach it: stop streamd itself, and strace ends with it.
        let children = (try? String(contentsOfFile: "/proc/\(serve.pid)/task/\(serve.pid)/children", encoding: .utf8)) ?? ""
        guard let streamd = children.split(separator: " ").first.flatMap({ pid_t($0) }) else {
            _ = serve.stop(signal: SIGKILL)
            throw TestSupportError("no streamd under strace")
        }
        kill(streamd, SIGTERM)
        let stopped = try await onThread { serve.wait() }
        #expect(stopped.status == 0, "\(stopped.output.suffix(600))")

        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map(String.init)
        var created: [String: String] = [:]
        for line in lines {
            guard let open = line.range(of: "open"), let quote = line[open.upperBound...].firstIndex(of: "\"") else { continue }
            let rest = line[line.index(after: quote)...]
            guard let end = rest.firstIndex(of: "\"") else { continue }
            let path = String(rest[..<end])
            guard Self.isSecret(path) else { continue }
            if line.contains("chmod") {
                Issue.record("a secret was chmod-ed after it was created: \(line)")
            } else if line.contains("O_CREAT") {
                created[path] = line
                // Under `-f` strace splits a call another thread interrupts: "…, 0600 <unfinished ...>".
                let mode = line.contains(", 0600)") || line.contains(", 0600 <unfinished")
                #expect(line.contains("O_EXCL") && mode, "created wider than 0600, or not exclusively: \(line)")
            }
        }
        let names = Set(created.keys.map { ($0 as NSString).lastPathComponent })
        #expect(names.isSuperset(of: ["admin-token", "chat-secret", "postgres.password"]), "secrets created: \(names.sorted())")
        for path in created.keys where FileManager.default.fileExists(atPath: path) {
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
            #expect(mode == 0o600, "\(path): \(String(mode ?? 0, radix: 8))")
        }
    }

    @Test func aShortAdminTokenStopsServeWithWhatToDo() async throws {
        let refused = try await Subprocess.runDetached(
            try Binaries.streamd(),
            [
                "serve", "--database-url", "postgres://postgres@127.0.0.1:1/none", "--data-dir",
                NSTemporaryDirectory() + "streamd-short-\(UUID().uuidString.prefix(8))", "--admin-token", "short",
            ])
        #expect(refused.status != 0)
        #expect(refused.output.contains("give at least 32"), "\(refused.output.suffix(400))")
        #expect(!refused.output.contains("streamd is up"))
    }

    /// An encoder set up with the key in its server URL (`rtmp://HOST/live/sk_…`) and no stream
    /// name is refused with what to change, and the key is nowhere in the events or the log.
    @Test(.timeLimit(.minutes(2))) func aKeyInTheServerURLNeverReachesTheLogOrTheEvents() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        let key = try await server.createChannel("urlkey")
        let published = try await Subprocess.runDetached(
            "/usr/bin/ffmpeg",
            [
                "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "2",
                "-c:v", "libx264", "-preset", "ultrafast", "-f", "flv", "-rtmp_app", "live/\(key)", "-rtmp_playpath", "",
                "rtmp://127.0.0.1:\(server.rtmp)/",
            ])
        #expect(published.status != 0)
        #expect(published.output.contains("the stream key is in the server URL"), "\(published.output.suffix(400))")
        let secret = String(key.dropFirst(3))
        // The refusal is recorded asynchronously, behind the answer to the encoder.
        let events = try await poll("the PublishRejected event", seconds: 20) { () -> String? in
            let text = try await server.admin("GET", "/v1/events?limit=1000").text
            return text.contains("PublishRejected") ? text : nil
        }
        #expect(!events.contains(secret), "the key reached the event log")
        let (_, log) = try await server.stop()
        #expect(!log.contains(secret), "the key reached the log")
    }
}
