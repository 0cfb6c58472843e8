import EventStore
import Foundation
import TestSupport

/// Real players pointed at a stream: headless Chromium's native `<video>` and GStreamer.
enum Players {
    /// hls.js 1.6 in low-latency mode in headless Chromium, through the page of
    /// `ops/bench/hlsjs-latency` (`hlsjs_latency.py play`), for `seconds` after `warmup`; its page,
    /// report and screenshot go to `artifacts`. Returns the figures it reports and their JSON line.
    static func hlsJSPlays(
        _ url: String, seconds: Int, warmup: Int, artifacts: String
    ) async throws -> (figures: [String: Any], line: String) {
        try ConsoleBrowserTests.requireSelenium()
        let script = ConsoleBrowserTests.root.appendingPathComponent("ops/bench/llhls/hlsjs_latency.py").path
        try? FileManager.default.removeItem(atPath: artifacts)
        let run = try await Subprocess.runDetached(
            "/usr/bin/env",
            [
                "python3", script, "--seconds", "\(seconds)", "--warmup", "\(warmup)", "--hlsjs-dir",
                ConsoleBrowserTests.root.appendingPathComponent(".build/hlsjs").path, "play", "--url", url, "--out", artifacts,
            ])
        guard run.status == 0 else { throw TestSupportError("hls.js did not play \(url): \(run.output)") }
        let line = String(run.output.split(separator: "\n").last { $0.hasPrefix("{") } ?? "")
        guard let figures = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw TestSupportError("no JSON figures from hls.js in \(run.output)")
        }
        return (figures, line)
    }

    /// What a failure should add when hls.js ended in its own buffer-queue deadlock (hls.js issue
    /// 7808; `hlsjsQueueDeadlock` in the figures, docs/testing.md).
    static func hlsJSDeadlockNote(_ figures: [String: Any]) -> String {
        figures["hlsjsQueueDeadlock"] as? Bool == true
            ? " (hls.js deadlocked its own buffer queues: block-audio stranded at the audio queue's head, hls.js issue 7808)" : ""
    }

    /// Chromium loads a page (served by a one-page server of the test's own, so page and stream are
    /// both loopback origins) whose `<video>` plays `url`; the page reports back once `seconds` of
    /// media have played, or why not.
    static func chromiumPlays(_ url: String, seconds: Double) async throws -> (ok: Bool, detail: String) {
        let page = """
            <!doctype html><video id="v" muted autoplay playsinline></video><script>
            const v = document.getElementById('v');
            let done = false, first = null;
            const report = (ok, detail) => { if (done) return; done = true;
              fetch('/report?ok=' + ok + '&detail=' + encodeURIComponent(detail)); };
            v.addEventListener('error', () => report(0, 'media error ' + (v.error && v.error.code) + ' ' + (v.error && v.error.message)));
            v.addEventListener('timeupdate', () => {
              if (first === null) first = v.currentTime;
              if (v.currentTime - first >= \(seconds)) report(1, 'played to ' + v.currentTime.toFixed(2) + ' s at ' + v.videoWidth + 'x' + v.videoHeight);
            });
            setTimeout(() => report(0, 'timeout: readyState ' + v.readyState + ', currentTime ' + v.currentTime +
              ', canPlayType ' + v.canPlayType('application/vnd.apple.mpegurl')), 40000);
            v.src = '\(url)';
            v.play().catch(e => report(0, 'play(): ' + e));
            </script>
            """
        let server = try OnePageServer(page: page)
        let profile = NSTemporaryDirectory() + "streamd-chromium-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let browser = try Subprocess.start(
            "/usr/bin/chromium",
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--user-data-dir=\(profile)", "http://127.0.0.1:\(server.port)/",
            ])
        let report = try await onThread { server.waitForReport(timeout: 60) }
        _ = try await onThread { browser.stop(signal: SIGKILL) }
        guard let report else { return (false, "no report from the page within 60 s") }
        return (report.hasPrefix("ok=1"), report.removingPercentEncoding ?? report)
    }

    /// GStreamer (playbin picks its HLS demuxer) plays the live stream for `seconds`: it reaches
    /// PLAYING, renders frames (fpsdisplaysink counts them) and reports no error.
    static func gstreamerPlaysLive(_ url: String, seconds: Int) async throws -> (ok: Bool, rendered: Int, output: String) {
        let result = try await Subprocess.runDetached(
            "/usr/bin/timeout",
            [
                "-k", "3", "-s", "INT", "\(seconds)", "/usr/bin/gst-launch-1.0", "-v", "playbin", "uri=\(url)",
                "video-sink=fpsdisplaysink video-sink=fakesink text-overlay=false", "audio-sink=fakesink sync=true",
            ])
        let counts = result.output.matches(of: /rendered: (\d+), dropped: \d+/).compactMap { Int($0.output.1) }
        let rendered = counts.last ?? 0
        let failed = result.output.contains("ERROR") || !result.output.contains("PLAYING")
        let shown = result.output.split(separator: "\n").filter { !$0.contains("Got context") && !$0.contains("/GstPipeline") }.suffix(20)
        return (!failed && rendered > 0, rendered, shown.joined(separator: "\n"))
    }
}

/// A blocking one-connection-at-a-time HTTP server on loopback: `/` answers the page, and the
/// first `/report?…` request's query is the report.
final class OnePageServer: @unchecked Sendable {
    // @unchecked: the socket is used by one thread at a time (the test's waiting thread).
    let port: Int
    private let fd: Int32
    private let page: String

    init(page: String) throws {
        self.page = page
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw TestSupportError("cannot listen for the test page")
        }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }

    func waitForReport(timeout: Int) -> String? {
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 500) > 0 else { continue }
            let client = accept(fd, nil, nil)
            guard client >= 0 else { continue }
            defer { close(client) }
            var buffer = [UInt8](repeating: 0, count: 8192)
            let count = read(client, &buffer, buffer.count)
            guard count > 0 else { continue }
            let request = String(decoding: buffer[0..<count], as: UTF8.self)
            let target = request.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let body = target == "/" ? page : "ok"
            let response =
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            _ = response.withCString { write(client, $0, strlen($0)) }
            if target.hasPrefix("/report?") { return String(target.dropFirst(8)) }
        }
        return nil
    }
}
