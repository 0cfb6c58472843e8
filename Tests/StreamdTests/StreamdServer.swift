import EventStore
import Foundation
import TestSupport
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A `streamd serve` process on free ports and a fresh database, as a user runs it.
final class StreamdServer: @unchecked Sendable {
    // @unchecked: `process` is only read after init, and stop() is called by one test at a time.
    let database: DatabaseURL
    let dataDir: String
    let http: Int
    let rtmp: Int
    let srt: Int
    let token = "serve-test-admin-token-of-32-chars"
    private(set) var process: Subprocess.Running
    let arguments: [String]

    var base: String { "http://127.0.0.1:\(http)" }

    init(database: DatabaseURL? = nil, dataDir: String? = nil, host: String = "127.0.0.1", extra: [String] = []) async throws {
        if let database {
            self.database = database
        } else {
            self.database = try await TestDatabase.freshDatabase("serve")
        }
        self.dataDir = dataDir ?? NSTemporaryDirectory() + "streamd-serve-\(UUID().uuidString.prefix(8))"
        let started = try await Self.start(database: self.database, dataDir: self.dataDir, host: host, token: token, extra: extra)
        (http, rtmp, srt, arguments, process) = (started.http, started.rtmp, started.srt, started.arguments, started.process)
    }

    /// Starts `streamd serve` on free ports until it answers; ports another test took between
    /// being found free and being bound get a second and third try with new ones.
    private static func start(
        database: DatabaseURL, dataDir: String, host: String, token: String, extra: [String]
    ) async throws -> (http: Int, rtmp: Int, srt: Int, arguments: [String], process: Subprocess.Running) {
        var attempt = 0
        while true {
            let (http, rtmp, srt) = (try freePort(), try freePort(), try freeUDPPort())
            let arguments =
                [
                    "serve", "--database-url", database.urlString, "--data-dir", dataDir, "--host", host,
                    "--http-port", "\(http)", "--rtmp-port", "\(rtmp)", "--srt-port", "\(srt)", "--admin-token", token,
                ] + extra
            let process = try Subprocess.start(try Binaries.streamd(), arguments)
            do {
                try await waitUntilUp(process, base: "http://127.0.0.1:\(http)")
                return (http, rtmp, srt, arguments, process)
            } catch let failure as Exited where failure.output.contains("in use") && attempt < 2 {
                attempt += 1
            }
        }
    }

    struct Exited: Error, CustomStringConvertible {
        let output: String
        var description: String { "streamd serve exited before it answered: \(output.suffix(2_000))" }
    }

    /// Waits for `/healthz`; says so at once, with the process's output, if it exits instead.
    static func waitUntilUp(_ process: Subprocess.Running, base: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? await request("GET", base + "/healthz").status) != 200 {
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid {
                throw Exited(output: (try? String(contentsOfFile: process.outputPath, encoding: .utf8)) ?? "")
            }
            guard ContinuousClock.now < deadline else {
                let output = (try? String(contentsOfFile: process.outputPath, encoding: .utf8)) ?? ""
                throw TestSupportError("streamd serve did not come up within 60 s: \(output.suffix(2_000))")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// A test that did not stop its server (or failed before it could) leaves nothing running.
    deinit {
        var status: Int32 = 0
        if waitpid(process.pid, &status, WNOHANG) == 0 {
            kill(process.pid, SIGKILL)
            while waitpid(process.pid, &status, 0) == -1, errno == EINTR {}
        }
    }

    /// Starts the same server again (same database, data folder and ports) after a stop.
    func restart() async throws {
        process = try Subprocess.start(try Binaries.streamd(), arguments)
        try await Self.waitUntilUp(process, base: base)
    }

    @discardableResult
    func stop(signal: Int32 = SIGTERM) async throws -> (Int32, String) {
        let process = self.process
        return try await onThread { process.stop(signal: signal) }
    }

    func removeData() { try? FileManager.default.removeItem(atPath: dataDir) }

    struct Reply: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func get(_ path: String, headers: [String: String] = [:], method: String = "GET") async throws -> Reply {
        try await Self.request(method, base + path, headers: headers)
    }

    func admin(_ method: String, _ path: String, body: String? = nil) async throws -> Reply {
        try await Self.request(method, base + path, headers: ["Authorization": "Bearer \(token)"], body: body)
    }

    static func request(_ method: String, _ url: String, headers: [String: String] = [:], body: String? = nil) async throws -> Reply {
        guard let target = URL(string: url) else { throw TestSupportError("bad URL \(url)") }
        var request = URLRequest(url: target, timeoutInterval: 30)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body.map { Data($0.utf8) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as? HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http?.allHeaderFields ?? [:] {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return Reply(status: http?.statusCode ?? 0, headers: fields, body: data)
    }

    static func freeUDPPort() throws -> Int { freeLoopbackPort(udp: true) }
    static func freePort() throws -> Int { freeLoopbackPort() }

    /// Creates a channel; returns its stream key.
    func createChannel(_ name: String) async throws -> String {
        let reply = try await admin("POST", "/v1/channels", body: #"{"name":"\#(name)"}"#)
        guard reply.status == 201 else { throw TestSupportError("creating channel \(name): \(reply.status) \(reply.text)") }
        return try JSONDecoder().decode([String: String].self, from: reply.body)["streamKey"] ?? ""
    }

    /// ffmpeg publishing a test pattern with a tone for `seconds`, in real time.
    func publish(
        key: String, seconds: Int, size: String = "640x360", gop: Int = 60, videoOptions: [String] = []
    ) async throws -> (status: Int32, output: String) {
        try await Subprocess.runDetached(
            "/usr/bin/ffmpeg", publishArguments(key: key, seconds: seconds, size: size, gop: gop, videoOptions: videoOptions))
    }

    /// The same publish, running until it ends or is stopped.
    func startPublishing(key: String, seconds: Int, size: String = "640x360", role: String? = nil) throws -> Subprocess.Running {
        try Subprocess.start(
            "/usr/bin/ffmpeg", publishArguments(key: key, seconds: seconds, size: size, gop: 60, videoOptions: [], role: role))
    }

    private func publishArguments(
        key: String, seconds: Int, size: String, gop: Int, videoOptions: [String], role: String? = nil
    ) -> [String] {
        [
            "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "\(seconds)",
            "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "\(gop)", "-bf", "0",
        ] + videoOptions + [
            "-c:a", "aac", "-b:a", "96k", "-f", "flv", "rtmp://127.0.0.1:\(rtmp)/live/\(key)" + (role.map { "?role=\($0)" } ?? ""),
        ]
    }
}
