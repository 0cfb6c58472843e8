import EventStore
import Foundation
import Synchronization
import TestSupport
import Testing

/// A clean shutdown under load (docs/architecture.md, "Running a node: services and their order"):
/// with a live ladder transcoding, 200 chat sockets open and blocked LL-HLS playlist requests in
/// flight, SIGTERM ends `streamd serve` within 10 s, stopping its parts in the declared reverse
/// order, answering every request, closing every socket, and leaving every segment and event in
/// the log.
@Suite struct ShutdownTests {
    /// `Platform.services` and then HTTP, in start order; a shutdown logs `stopped NAME` for each in
    /// reverse, then `stopped the event log` (the log opens first, closes last) and `streamd stopped`.
    static let declaredOrder = [
        "channels read model", "stream key table", "chat", "quality read model", "quality controller", "ingest alerts", "DVR index",
        "dashboard read model", "audience sampler",
        "recording maintenance", "key revocation watcher", "live pipeline", "RTMP ingest", "SRT ingest", "HTTP",
    ]
    static let chatSockets = 200
    static let blockers = 10

    @Test(.timeLimit(.minutes(3))) func sigtermUnderLoadStopsInOrderWithinTenSecondsAndFlushesEverything() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("down")

        // 1. A live ladder: the 854x480 source passes through as 480p and the default ladder
        // encodes 360p (a 640x360 source would only pass through, as 360p).
        let encoder = try Self.publish(server, key: key, size: "854x480")
        defer { encoder.stop() }

        let rung = try await poll("an encoded rung to start", seconds: 60) { () -> String? in
            let reply = try await server.admin("GET", "/v1/events?type=RenditionStarted")
            let events = (try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])?["events"] as? [[String: Any]] ?? []
            return events.compactMap { $0["data"] as? [String: Any] }
                .first { $0["passthrough"] as? Bool == false && $0["kind"] as? String == "video" }?["rendition"] as? String
        }
        let multivariant = try await poll("the multivariant playlist with the ladder", seconds: 60) { () -> MultivariantPlaylist? in
            let reply = try await server.get("/live/down/index.m3u8")
            guard reply.status == 200 else { return nil }
            let parsed = try MultivariantPlaylist(reply.text)
            return parsed.variants.count >= 2 && parsed.renditionNames.contains(rung) && parsed.renditionNames.contains("audio")
                ? parsed : nil
        }
        print("ShutdownTests: live ladder \(Set(multivariant.renditionNames).sorted()), \(rung) encoded")
        let path = "/live/down/\(rung)/index.m3u8"
        try await Self.waitForParts(server, path: path)

        // 2. 200 chat sockets in the channel's room, and blocked playlist requests kept in flight.
        let chat = try RawChatSockets(port: server.http, path: "/v1/chat/down", count: Self.chatSockets)
        defer { chat.close() }
        try await chat.waitJoined(timeout: .seconds(60))

        let blocking = BlockedPlaylistRequests(port: server.http, paths: [path, "/live/down/audio/index.m3u8"], count: Self.blockers)
        defer { blocking.finish() }
        _ = try await poll("blocked playlist requests to be answered", seconds: 30) { () -> Bool? in
            blocking.answered(status: 200) >= Self.blockers ? true : nil
        }
        try await Task.sleep(for: .seconds(1))

        // 3. SIGTERM, timed until the process exits; the parts stop in order.
        let (signalled, exited, output) = try await Self.terminate(server) { blocking.stopIssuing() }
        stopped = true
        Self.expectStopOrder(output)

        // Every playlist request in flight at SIGTERM was answered or closed, none left hanging.
        let inFlight = await blocking.inFlight(at: signalled)
        print(
            "ShutdownTests: \(inFlight.count) playlist requests in flight at SIGTERM: "
                + inFlight.map { "\($0.outcome.map { "\($0)" } ?? "waiting") after \(Self.seconds(($0.finished ?? exited) - signalled)) s" }
                .joined(separator: "; "))
        #expect(inFlight.count >= 5, "at least 5 blocked playlist requests were in flight at SIGTERM: \(inFlight.count)")
        for request in inFlight {
            switch request.outcome {
            case .answered, .closed: break
            case .timedOut, .failed, nil:
                Issue.record(
                    "a blocked playlist request in flight at SIGTERM (\(request.path)) was not answered nor closed: \(request.outcome.map { "\($0)" } ?? "still waiting")"
                )
            }
        }

        // Every chat socket was closed.
        let ended = await chat.waitEnded(timeout: .seconds(5))
        let sockets = chat.snapshot
        let closeFrames = Dictionary(grouping: sockets.compactMap(\.closeCode), by: { $0 }).mapValues(\.count)
        let beforeExit = sockets.filter { ($0.endedAt ?? exited) < exited }.count
        let closedAfter = sockets.compactMap { $0.closeAt.map { $0 - signalled } }.sorted()
        print(
            "ShutdownTests: chat sockets ended \(ended)/\(sockets.count) (\(beforeExit) before the process exited), close frames by code: \(closeFrames)"
                + (closedAfter.isEmpty
                    ? "" : ", sent \(Self.seconds(closedAfter[0]))–\(Self.seconds(closedAfter[closedAfter.count - 1])) s after SIGTERM"))
        #expect(ended == Self.chatSockets, "every chat socket is closed: \(ended) of \(Self.chatSockets)")

        // 4. The log: the session ended and its recording is finalized, with one SegmentPublished
        // per segment file on disk; the hash chain verifies.
        await onThread { encoder.stop() }
        try await Self.expectSessionFlushed(server)
    }

    /// One viewer whose chat client is gone without a word (a laptop lid closed, a phone off the
    /// network: it answers neither the close frame nor anything else) must not hold up a shutdown,
    /// and above all must not make it lose the session's last segments and events.
    ///
    /// Fails at the time of writing: HTTP's graceful shutdown sends the socket its close frame
    /// (1000) but `ChatSocket.run` goes on reading until the peer answers, and the WebSocket
    /// layer's 5 s close timeout only starts once that handler returns; so HTTP never finishes,
    /// the group's 9 s limit passes and every part is cancelled at once: stopped out of order, the
    /// log closed before ingest and the pipeline, no `StreamEnded`, no `RecordingFinalized`, and
    /// the segments in progress on disk without `SegmentPublished`.
    @Test(.timeLimit(.minutes(2))) func aChatPeerThatNeverAnswersTheCloseDoesNotHoldUpTheShutdown() async throws {
        let server = try await StreamdServer()
        defer { server.removeData() }
        var stopped = false
        defer { if !stopped { Task { try? await server.stop(signal: SIGKILL) } } }
        let key = try await server.createChannel("deaf")
        let encoder = try Self.publish(server, key: key, size: "320x180")
        defer { encoder.stop() }
        _ = try await poll("the live stream", seconds: 60) { () -> Bool? in
            try await server.get("/live/deaf/source/index.m3u8").status == 200 ? true : nil
        }
        try await Self.waitForParts(server, path: "/live/deaf/source/index.m3u8")
        let chat = try RawChatSockets(port: server.http, path: "/v1/chat/deaf", count: 1, answering: false)
        defer { chat.close() }
        try await chat.waitJoined(timeout: .seconds(30))

        // Under 9 s: past that the service group gives up on graceful shutdown and cancels every
        // part at once (Platform.group), out of order, the log among them.
        let (_, _, output) = try await Self.terminate(server, within: .seconds(9))
        stopped = true
        Self.expectStopOrder(output)
        await onThread { encoder.stop() }
        try await Self.expectSessionFlushed(server)
    }

    // MARK: - Helpers

    /// ffmpeg publishing a test pattern with a tone over RTMP, in real time, for up to 4 minutes.
    static func publish(_ server: StreamdServer, key: String, size: String) throws -> Encoder {
        Encoder(try server.startPublishing(key: key, seconds: 240, size: size))
    }

    /// The publishing ffmpeg, killed and reaped once (never signalled after that: its pid may
    /// belong to another process by then).
    final class Encoder: Sendable {
        let process: Subprocess.Running
        private let reaped = Mutex(false)
        init(_ process: Subprocess.Running) { self.process = process }

        func stop() {
            reaped.withLock { reaped in
                guard !reaped else { return }
                reaped = true
                _ = process.stop(signal: SIGKILL)
            }
        }
    }

    /// Waits until a media playlist's newest part moves on.
    static func waitForParts(_ server: StreamdServer, path: String) async throws {
        let first = try MediaPlaylist(try await server.get(path).text)
        _ = try await poll("parts to flow on \(path)", seconds: 30) { () -> Bool? in
            let now = try MediaPlaylist(try await server.get(path).text)
            return (now.lastMSN, now.lastPart ?? -1) > (first.lastMSN, first.lastPart ?? -1) ? true : nil
        }
    }

    /// Sends SIGTERM (after `before`) and waits for the exit, killing the server after 40 s; expects
    /// exit status 0 within `limit`. Returns when the signal went, when the process was gone, and
    /// its output.
    static func terminate(
        _ server: StreamdServer, within limit: Duration = .seconds(10), before: () -> Void = {}
    ) async throws -> (signalled: ContinuousClock.Instant, exited: ContinuousClock.Instant, output: String) {
        let process = server.process
        let signalled = ContinuousClock.now
        before()
        kill(process.pid, SIGTERM)
        // A hung server is killed after 40 s, unless it has been reaped by then (its pid is free).
        let reaped = Mutex(false)
        let watchdog = Task {
            try? await Task.sleep(for: .seconds(40))
            reaped.withLock { if !$0 { kill(process.pid, SIGKILL) } }
        }
        let (status, output) = try await onThread { () -> (Int32, String) in
            // Waits for the exit without reaping; `process.wait()` then reaps it and reads its output.
            var info = siginfo_t()
            while waitid(P_PID, id_t(process.pid), &info, WEXITED | WNOWAIT) == -1, errno == EINTR {}
            return reaped.withLock { reaped in
                reaped = true
                return process.wait()
            }
        }
        let exited = ContinuousClock.now
        watchdog.cancel()
        let shutdown = exited - signalled
        print("ShutdownTests: shutdown took \(seconds(shutdown)) s")
        #expect(status == 0, "streamd serve exits 0 after SIGTERM (status \(status)): \(output.suffix(1500))")
        #expect(shutdown < limit, "a clean shutdown takes under \(limit), took \(seconds(shutdown)) s: \(stopLines(output))")
        return (signalled, exited, output)
    }

    /// Every part logged `stopped NAME` once, in the declared reverse order, the event log last,
    /// then `streamd stopped`.
    static func expectStopOrder(_ output: String) {
        let lines = output.split(separator: "\n").map(String.init)
        let logged = stopLines(output)
        print("ShutdownTests: stop order:\n  " + logged.joined(separator: "\n  "))
        let expected = declaredOrder.reversed() + ["the event log"]
        var indexes: [Int] = []
        for name in expected {
            let found = lines.indices.filter { lines[$0].hasSuffix("stopped \(name)") }
            #expect(found.count == 1, "`stopped \(name)` is logged once, found \(found.count) times: \(logged)")
            if let index = found.first { indexes.append(index) }
        }
        #expect(indexes == indexes.sorted(), "parts stop in reverse start order \(Array(expected)), logged: \(logged)")
        let lastLine = lines.last { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        #expect(lastLine == "streamd stopped", "`streamd stopped` is the last line, after \(logged); last: \(lastLine ?? "nothing")")
    }

    /// The one session in the data folder ended (`StreamEnded`), its recording is finalized after
    /// that, one `SegmentPublished` entry stands for each segment file on disk, and `streamd events
    /// verify` passes.
    static func expectSessionFlushed(_ server: StreamdServer) async throws {
        let media = server.dataDir + "/media"
        let sessions = try FileManager.default.contentsOfDirectory(atPath: media).filter { !$0.hasPrefix(".") }
        #expect(sessions.count == 1, "one session's media: \(sessions)")
        let session = try #require(sessions.first)
        var files: [String: Set<String>] = [:]
        for rendition in try FileManager.default.contentsOfDirectory(atPath: media + "/" + session) {
            let names = try FileManager.default.contentsOfDirectory(atPath: media + "/\(session)/\(rendition)")
            files[rendition] = Set(names.filter { $0.hasPrefix("s") && $0.hasSuffix(".m4s") }.map { "\(session)/\(rendition)/\($0)" })
        }

        let store = try await EventStore.open(url: server.database, registry: EventRegistry(), logger: TestDatabase.logger)
        let events = try await store.read(after: 0, limit: 100_000)
        await store.shutdown()
        func data(_ event: RecordedEvent) -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: event.data) as? [String: Any]) ?? [:]
        }
        let ours = events.filter { data($0)["sessionID"] as? String == session }
        let types = ours.map(\.eventType)
        #expect(types.filter { $0 == "StreamEnded" }.count == 1, "the session ends once in the log: \(Set(types))")
        #expect(types.filter { $0 == "RecordingFinalized" }.count == 1, "the recording is finalized: \(Set(types))")
        if let end = types.firstIndex(of: "StreamEnded"), let finalized = types.firstIndex(of: "RecordingFinalized") {
            #expect(end < finalized, "the recording is finalized after the session ends")
            print("ShutdownTests: StreamEnded \(ours[end].dataText)")
            #expect(types[finalized...].allSatisfy { $0 != "SegmentPublished" }, "no segment is published after the recording is finalized")
        }
        // One event per segment of the ladder, an entry per rendition.
        let published = ours.filter { $0.eventType == "SegmentPublished" }.flatMap { event in
            (data(event)["renditions"] as? [[String: Any]] ?? []).map { $0["path"] as? String ?? "?" }
        }
        let onDisk = files.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        print("ShutdownTests: \(published.count) SegmentPublished entries, \(onDisk.count) segment files (\(files.mapValues(\.count)))")
        #expect(Set(published).count == published.count, "no segment is published twice")
        #expect(
            published.count == onDisk.count,
            "one SegmentPublished entry per segment file: \(published.count) entries, \(onDisk.count) files")
        let unpublished = onDisk.subtracting(published).sorted()
        let missing = Set(published).subtracting(onDisk).sorted()
        #expect(unpublished.isEmpty, "segment files on disk without SegmentPublished (lost at shutdown?): \(unpublished)")
        #expect(missing.isEmpty, "SegmentPublished for files not on disk: \(missing)")
        if let finalized = ours.first(where: { $0.eventType == "RecordingFinalized" }) {
            let counted = (data(finalized)["segments"] as? [String: Any] ?? [:]).compactMapValues { ($0 as? NSNumber)?.intValue }
            #expect(
                counted == files.mapValues(\.count),
                "RecordingFinalized counts the files on disk: \(counted) vs \(files.mapValues(\.count))")
        }

        let verify = try await Subprocess.runDetached(
            try Binaries.streamd(), ["events", "verify", "--database-url", server.database.urlString])
        #expect(verify.status == 0, "\(verify.output)")
        #expect(verify.output == "\(events.count) events verified", "\(verify.output)")
    }

    static func seconds(_ duration: Duration) -> String {
        String(format: "%.2f", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    /// The `stopped …` lines of the node's log, for messages.
    static func stopLines(_ output: String) -> [String] {
        output.split(separator: "\n").map(String.init).filter { $0.contains("stopped") }
    }
}

/// Threads that each keep one LL-HLS blocking playlist reload in flight on a media playlist: they
/// ask for the part after the newest one (half of them) or the first part of the segment after the
/// one in progress (the others, which block for up to a segment), one connection per request over a
/// plain socket, so that an answer, a close and a hang can be told apart.
final class BlockedPlaylistRequests: Sendable {
    enum Outcome: Sendable, CustomStringConvertible {
        case answered(Int)
        case closed(String)
        case timedOut
        case failed(String)

        var description: String {
            switch self {
            case .answered(let status): "answered \(status)"
            case .closed(let how): "closed (\(how))"
            case .timedOut: "no answer within 25 s"
            case .failed(let why): "failed: \(why)"
            }
        }
    }

    struct Request: Sendable {
        var path: String
        var sent: ContinuousClock.Instant
        var finished: ContinuousClock.Instant?
        var outcome: Outcome?
    }

    private let requests = Mutex<[Request]>([])
    private let issuing = Mutex<Bool>(true)
    private let running = Mutex<Int>(0)

    init(port: Int, paths: [String], count: Int) {
        running.withLock { $0 = count }
        for index in 0..<count {
            let path = paths[index % paths.count]
            let aheadOneSegment = (index / paths.count) % 2 == 1
            let thread = Thread { [self] in
                loop(port: port, path: path, aheadOneSegment: aheadOneSegment)
                running.withLock { $0 -= 1 }
            }
            thread.name = "blocked playlist \(index)"
            thread.start()
        }
    }

    private func loop(port: Int, path: String, aheadOneSegment: Bool) {
        var playlist: MediaPlaylist?
        while issuing.withLock({ $0 }) {
            guard let current = playlist else {
                if case (.answered(200), let body)? = Self.get(port: port, path: path, sent: { _ in }) {
                    playlist = try? MediaPlaylist(String(decoding: body, as: UTF8.self))
                } else {
                    usleep(100_000)
                }
                continue
            }
            let (msn, part) = aheadOneSegment ? (current.lastMSN + 1, 0) : (current.lastMSN, (current.lastPart ?? -1) + 1)
            let blocked = "\(path)?_HLS_msn=\(msn)&_HLS_part=\(part)"
            var slot: Int?
            let result = Self.get(port: port, path: blocked) { sent in
                slot = requests.withLock { requests in
                    requests.append(Request(path: blocked, sent: sent))
                    return requests.count - 1
                }
            }
            let finished = ContinuousClock.now
            if let slot {
                requests.withLock {
                    $0[slot].finished = finished
                    $0[slot].outcome = result?.0 ?? .failed("not sent")
                }
            }
            if case (.answered(200), let body)? = result {
                playlist = try? MediaPlaylist(String(decoding: body, as: UTF8.self))
            } else {
                playlist = nil
                usleep(100_000)
            }
        }
    }

    /// How many requests got `status`.
    func answered(status: Int) -> Int {
        requests.withLock { $0.filter { if case .answered(status)? = $0.outcome { true } else { false } }.count }
    }

    /// No new requests from now on; those in flight run to their end.
    func stopIssuing() { issuing.withLock { $0 = false } }

    /// The requests sent before `instant` and not finished by then, once each has finished (a
    /// request still waiting after 30 s is returned as it is).
    func inFlight(at instant: ContinuousClock.Instant) async -> [Request] {
        let deadline = ContinuousClock.now + .seconds(30)
        while running.withLock({ $0 }) > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        return requests.withLock { $0 }.filter { $0.sent < instant && ($0.finished.map { $0 > instant } ?? true) }
    }

    func finish() { stopIssuing() }

    /// One GET on a connection of its own (`Connection: close`); `sent` is called once the request
    /// is written. Returns nil when it could not be sent.
    static func get(port: Int, path: String, sent: (ContinuousClock.Instant) -> Void) -> (Outcome, [UInt8])? {
        guard let fd = try? RawChatSockets.connect(port: port) else { return nil }
        defer { close(fd) }
        var wait = timeval(tv_sec: 25, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n"
        guard RawChatSockets.sendAll(fd, Array(request.utf8)) else { return nil }
        sent(.now)
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound {
                let head = String(decoding: buffer[..<end], as: UTF8.self).lowercased()
                let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                let length = head.components(separatedBy: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
                if let length, buffer.count - end >= length { return (.answered(status), Array(buffer[end..<(end + length)])) }
            }
            let count = recv(fd, &chunk, chunk.count, 0)
            if count > 0 {
                buffer += chunk[0..<count]
                continue
            }
            let code = errno
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound {
                // Without a Content-Length the body runs to the close.
                let status = Int(String(decoding: buffer[..<end], as: UTF8.self).split(separator: " ").dropFirst().first ?? "") ?? 0
                return (.answered(status), Array(buffer[end...]))
            }
            if count == 0 { return (.closed(buffer.isEmpty ? "EOF" : "EOF after \(buffer.count) bytes"), []) }
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return (.timedOut, []) }
            if code == ECONNRESET { return (.closed("reset"), []) }
            return (.failed("errno \(code)"), [])
        }
    }
}
