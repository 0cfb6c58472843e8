import CSRT
import EventStore
import Foundation
import Logging
import Synchronization

/// The one thread that runs every SRT socket of a listener: `srt_epoll_uwait` over the listener
/// and the publishing connections, accept, receive, demux, hand media over, sample statistics.
///
/// Other threads talk to it only through `post` (a locked command queue it drains every turn, at
/// most `turn` apart): claims finished, consumers ready for more, kicks, stop.
///
/// `@unchecked Sendable`: everything but `commands`, `ended` and `count` is confined to the loop's
/// own thread (set up before it starts, torn down after it exits).
final class SRTReceiveLoop: @unchecked Sendable {
    struct Ending: Sendable {
        var sessionID: UUID
        var token: UInt64
        var reason: StreamEnded.Reason
        var detail: String?
    }

    enum Command: Sendable {
        case claimed(SRTSOCKET, token: UInt64, SessionRegistry.Claim)
        case resume(SRTSOCKET, token: UInt64)
        case close(SRTSOCKET, token: UInt64, reason: StreamEnded.Reason, detail: String?)
        case stop
    }

    static let turn: Int64 = 10
    static let readsPerTurn = 512
    static let maximumBatch = 32

    private let server: SRTServer
    private let listener: SRTSOCKET
    private let epoll: Int32
    private let commands = Mutex<[Command]>([])
    private let stopped = Mutex<CheckedContinuation<[Ending], Never>?>(nil)
    private let finished = Mutex<[Ending]?>(nil)
    private let count = Atomic<Int>(0)
    private var connections: [SRTSOCKET: SRTConnection] = [:]
    private var endings: [Ending] = []
    private var stopping = false
    private var lastSweep = ContinuousClock.now
    private var buffer = [UInt8](repeating: 0, count: 1500)

    init(server: SRTServer, listener: SRTSOCKET) throws(SRTServerError) {
        self.server = server
        self.listener = listener
        epoll = srt_epoll_create()
        guard epoll >= 0 else { throw SRTServerError("cannot create an SRT epoll set: \(SRTLibrary.lastError)") }
        srt_epoll_set(epoll, Int32(SRT_EPOLL_ENABLE_EMPTY.rawValue))
        var events = Int32(SRT_EPOLL_IN.rawValue | SRT_EPOLL_ERR.rawValue)
        guard srt_epoll_add_usock(epoll, listener, &events) == 0 else {
            let error = SRTLibrary.lastError
            srt_epoll_release(epoll)
            throw SRTServerError("cannot watch the SRT listener: \(error)")
        }
    }

    var connectionCount: Int { count.load(ordering: .relaxed) }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "streamd-srt"
        thread.start()
    }

    func post(_ command: Command) {
        commands.withLock { $0.append(command) }
    }

    /// Stops the thread: closes the listener and every connection; returns the sessions to end.
    func stop() async -> [Ending] {
        await withCheckedContinuation { continuation in
            let already = finished.withLock { $0 }
            if let already {
                continuation.resume(returning: already)
                return
            }
            stopped.withLock { $0 = continuation }
            post(.stop)
        }
    }

    // MARK: The thread

    private func run() {
        var events = [SRT_EPOLL_EVENT](repeating: SRT_EPOLL_EVENT(fd: -1, events: 0), count: 64)
        while !stopping {
            drainCommands()
            guard !stopping else { break }
            let ready = srt_epoll_uwait(epoll, &events, Int32(events.count), Self.turn)
            if ready < 0, SRTLibrary.lastErrorCode == Int32(SRT_EINVPOLLID.rawValue) {
                // libsrt was cleaned up under us (the process is exiting).
                return
            }
            if ready > 0 {
                for event in events.prefix(Int(ready)) {
                    if event.fd == listener {
                        acceptAll()
                    } else if let connection = connections[event.fd] {
                        read(connection)
                    }
                }
            }
            housekeeping()
        }
        for connection in Array(connections.values) {
            end(connection, reason: .shutdown, detail: nil)
        }
        srt_epoll_release(epoll)
        srt_close(listener)
        let result = endings
        endings = []
        finished.withLock { $0 = result }
        stopped.withLock { value in
            value?.resume(returning: result)
            value = nil
        }
    }

    private func drainCommands() {
        let pending = commands.withLock { value -> [Command] in
            defer { value.removeAll() }
            return value
        }
        for command in pending {
            switch command {
            case .stop:
                stopping = true
            case .claimed(let socket, let token, let claim):
                claimed(socket, token: token, claim)
            case .resume(let socket, let token):
                guard let connection = connections[socket], connection.token == token, connection.paused else { continue }
                connection.paused = false
                watch(connection.socket)
                read(connection)
            case .close(let socket, let token, let reason, let detail):
                guard let connection = connections[socket], connection.token == token else { continue }
                connection.logger.info("closing: \(detail ?? reason.rawValue)")
                end(connection, reason: reason, detail: detail)
            }
        }
    }

    private func acceptAll() {
        while true {
            var storage = sockaddr_storage()
            var length = Int32(MemoryLayout<sockaddr_storage>.size)
            let socket = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { srt_accept(listener, $0, &length) }
            }
            guard socket >= 0 else { return }
            guard let verdict = server.takeVerdict(socket) else {
                srt_close(socket)
                continue
            }
            SRTLibrary.set(socket, SRTO_RCVSYN, false)
            let token = UInt64.random(in: 1...UInt64.max)
            let connection = SRTConnection(socket: socket, token: token, verdict: verdict, logger: server.logger)
            connection.latencyMilliseconds = SRTLibrary.getInt(socket, SRTO_RCVLATENCY) ?? server.configuration.latencyMilliseconds
            connections[socket] = connection
            count.store(connections.count, ordering: .relaxed)
            let server = server
            let registryConnection = SessionRegistry.Connection(token: token) { [weak self] _, description in
                self?.post(.close(socket, token: token, reason: .kicked, detail: description))
            }
            Task { [weak self] in
                let claim = await server.claim(verdict, connection: registryConnection)
                self?.post(.claimed(socket, token: token, claim))
            }
        }
    }

    private func claimed(_ socket: SRTSOCKET, token: UInt64, _ claim: SessionRegistry.Claim) {
        let session: LiveSession
        switch claim {
        case .refused:
            if let connection = connections[socket], connection.token == token { end(connection, reason: .protocolError, detail: nil) }
            return
        case .started(let started), .resumed(let started):
            session = started
        }
        guard let connection = connections[socket], connection.token == token, !stopping else {
            // The caller left while its channel was claimed: the session waits out its grace.
            endings.append(Ending(sessionID: session.id, token: token, reason: .encoderClosed, detail: nil))
            flushEndings()
            return
        }
        connection.live = session
        connection.logger[metadataKey: "session"] = "\(session.id)"
        connection.logger.info("publishing over SRT", metadata: ["channel": "\(session.channelID)"])
        let now = ContinuousClock.now
        connection.lastMedia = now
        connection.lastSample = now
        connection.lastFlush = now
        session.demand.setResume { [weak self] in self?.post(.resume(socket, token: token)) }
        watch(socket)
        // libsrt's epoll reports a socket when it becomes readable, not what it already holds.
        read(connection)
    }

    private func watch(_ socket: SRTSOCKET) {
        var events = Int32(SRT_EPOLL_IN.rawValue | SRT_EPOLL_ERR.rawValue)
        srt_epoll_add_usock(epoll, socket, &events)
    }

    private func read(_ connection: SRTConnection) {
        for _ in 0..<Self.readsPerTurn {
            let received = buffer.withUnsafeMutableBytes { raw -> Int32 in
                guard let base = raw.baseAddress else { return -1 }
                return srt_recvmsg(connection.socket, base.assumingMemoryBound(to: CChar.self), Int32(raw.count))
            }
            guard received > 0 else {
                if received < 0, SRTLibrary.lastErrorCode == Int32(SRT_EASYNCRCV.rawValue) { break }
                end(connection, reason: .encoderClosed, detail: nil)
                return
            }
            let outcome = buffer.withUnsafeBytes { raw in
                connection.received(UnsafeRawBufferPointer(rebasing: raw[0..<Int(received)]), server: server)
            }
            if case .end(let reason, let detail) = outcome {
                connection.logger.info("closing: \(detail)")
                end(connection, reason: reason, detail: detail)
                return
            }
            if connection.pendingMedia.count >= Self.maximumBatch { flush(connection) }
            if connection.paused { return }
        }
        if connection.lastFlush.duration(to: .now) >= server.ingest.mediaBatchInterval { flush(connection) }
    }

    private func flush(_ connection: SRTConnection) {
        guard !connection.flushMedia(), !connection.paused else { return }
        connection.paused = true
        srt_epoll_remove_usock(epoll, connection.socket)
    }

    /// Batches, statistics and the idle timeout, about every turn.
    private func housekeeping() {
        let now = ContinuousClock.now
        let ingest = server.ingest
        for connection in Array(connections.values) where connection.live != nil {
            // libsrt's epoll can miss data that TSBPD released while a socket was being (re)added:
            // a non-blocking poll each turn is cheap (a locked buffer check) and keeps it moving.
            if !connection.paused { read(connection) }
            guard connections[connection.socket] != nil else { continue }
            if connection.lastFlush.duration(to: now) >= ingest.mediaBatchInterval { flush(connection) }
            if connection.lastSample.duration(to: now) >= ingest.statsInterval { connection.sampleStats(server: server) }
            if !connection.paused, connection.lastMedia.duration(to: now) > ingest.idleTimeout {
                let seconds = Int(ingest.idleTimeout.inSeconds)
                connection.logger.info("no media for \(seconds) s, closing")
                end(connection, reason: .timeout, detail: "no media for \(seconds) s")
            }
        }
        if lastSweep.duration(to: now) >= .seconds(5) {
            lastSweep = now
            server.forgetStaleVerdicts(now: now)
        }
    }

    private func end(_ connection: SRTConnection, reason: StreamEnded.Reason, detail: String?) {
        guard connections.removeValue(forKey: connection.socket) != nil else { return }
        count.store(connections.count, ordering: .relaxed)
        let counters = connection.extractor.demuxer.counters
        connection.logger.info("SRT connection ended", metadata: [
            "reason": "\(reason.rawValue)", "bytes": "\(connection.bytesReceived)", "ts_packets": "\(counters.packets)",
            "cc_errors": "\(counters.continuityErrors)", "skipped_bytes": "\(counters.skippedBytes)",
        ])
        if let live = connection.live {
            var held = TSMediaExtractor.Output()
            connection.extractor.flushHeldVideo(into: &held)
            connection.pendingMedia += held.items
            _ = connection.flushMedia()
            connection.sampleStats(server: server)
            live.demand.setResume(nil)
            endings.append(Ending(sessionID: live.id, token: connection.token, reason: reason, detail: detail))
            connection.live = nil
        }
        srt_epoll_remove_usock(epoll, connection.socket)
        srt_close(connection.socket)
        flushEndings()
    }

    /// Outside shutdown, sessions are told at once that their connection ended.
    private func flushEndings() {
        guard !stopping else { return }
        let registry = server.registry
        for ending in endings {
            Task { await registry.connectionEnded(ending.sessionID, token: ending.token, reason: ending.reason, detail: ending.detail) }
        }
        endings.removeAll()
    }
}
