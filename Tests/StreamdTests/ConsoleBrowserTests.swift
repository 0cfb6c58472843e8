import EventStore
import Foundation
import TestSupport
import Testing

/// The console and the watch page in headless Chromium driven by Selenium (`Browser/console_flow.py`),
/// against `streamd serve` with ffmpeg publishing. Screenshots of every page go to
/// `$STREAMD_ARTIFACTS/console` (default `.build/artifacts/console`).
@Suite struct ConsoleBrowserTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var artifactsRoot: String {
        ProcessInfo.processInfo.environment["STREAMD_ARTIFACTS"] ?? root.appendingPathComponent(".build/artifacts").path
    }

    /// The console flow empties this folder first; the hls.js test runs beside it and so keeps its own.
    static var artifacts: String { artifactsRoot + "/console" }
    static var hlsjsArtifacts: String { artifactsRoot + "/hlsjs-cmcd" }

    /// What every Selenium test here needs: the `selenium` module and Debian's chromium-driver.
    static func requireSelenium() throws {
        let selenium = try Subprocess.run("/usr/bin/env", ["python3", "-c", "import selenium"])
        try #require(selenium.status == 0, "selenium is missing: run ops/install --tests")
        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "chromium-driver is missing: run ops/install --tests")
    }

    @Test(.timeLimit(.minutes(4))) func signInPublishWatchModerateKickAndSignOut() async throws {
        let script = Self.root.appendingPathComponent("Tests/StreamdTests/Browser/console_flow.py").path
        try Self.requireSelenium()

        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        try? FileManager.default.removeItem(atPath: Self.artifacts)
        let run = try await Subprocess.runDetached(
            "/usr/bin/env", ["python3", script, server.base, server.token, "\(server.rtmp)", Self.artifacts])
        #expect(run.status == 0, "\(run.output)")
        print("console browser flow: \(run.output)")
        for name in [
            "01-sign-in", "02-channels", "03-watch", "04-session", "05-chat-before", "06-chat-after", "07-overview", "08-channel",
            "09-audit", "10-report",
        ] {
            #expect(FileManager.default.fileExists(atPath: "\(Self.artifacts)/\(name).png"), "no screenshot \(name)")
        }
    }

    /// hls.js with CMCD on plays the live stream; its reports become the session's QoE, in the
    /// dashboard while live and in the post-stream report (`Browser/hlsjs_cmcd.py`).
    @Test(.timeLimit(.minutes(4))) func hlsJSWithCMCDYieldsStartupAndRebufferFigures() async throws {
        let script = Self.root.appendingPathComponent("Tests/StreamdTests/Browser/hlsjs_cmcd.py").path
        try Self.requireSelenium()
        let server = try await StreamdServer()
        defer { server.removeData() }
        defer { Task { try? await server.stop(signal: SIGKILL) } }
        let run = try await Subprocess.runDetached(
            "/usr/bin/env",
            [
                "python3", script, server.base, server.token, "\(server.rtmp)", Self.root.appendingPathComponent(".build/hlsjs").path,
                Self.hlsjsArtifacts,
            ])
        #expect(run.status == 0, "\(run.output)")
        print("hls.js CMCD flow: \(run.output)")
    }
}
