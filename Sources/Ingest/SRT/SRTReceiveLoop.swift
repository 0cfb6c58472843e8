import CSRT
import EventStore
import Foundation
import Logging
import Synchronization

/// The one thread that runs every SRT socket of a listener: an epoll wait over the listener
/// and the publishing connections, accept, receive, demux, hand media over, sample statistics.
///
/// Other threads talk to it only through `post` (a locked command queue it drains every turn, at
/// most `turn` apart): claims finished, consumers ready for more, kicks, stop.
///
/// `@unchecked Sendable`: everything but `commands`, `stopped`, `finished` and `count` (the
/// listener, the epoll set and every connection's socket included) is confined to the loop's own
/// thread (set up before it starts, torn down after it exits).
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
    private let listener: SRTSocket
    private let epoll: SRTEpoll
    private let commands = Mutex<[Command]>([])
    private let stopped = Mutex<CheckedContinuation<[Ending], Never>?>(nil)
    private let finished = Mutex<[Ending]?>(nil)
    private let count = Atomic<Int>(0)
    private var connections: [SRTSOCKET: SRTConnection] = [:]
    private var endings: [Ending] = []
    private var stopping = false
    private var lastSweep = ContinuousClock.now
    private var buffer = [UInt8](repeating: 0, count: 1500)

    init(server: SRTServer, listener: SRTSocket) throws(SRTServerError) {
        self.server = server
        self.listener = listener
        do {
            epoll = try SRTEpoll(allowingEmpty: true)
        } catch {
            throw SRTServerError("cannot create an SRT epoll set: \(error.message)")
        }
        do {
            try epoll.add(listener, [.input, .error])
        } catch {
            throw SRTServerError("cannot watch the SRT listener: \(error.message)")
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
            var ready = 0
            do throws(SRTError) {
                ready = try epoll.wait(into: &events, timeoutMilliseconds: Self.turn)
            } catch {
                // libsrt was cleaned up under us (the process is exiting).
                if error.isInvalidEpoll { return }
            }
            if ready > 0 {
                for event in events.prefix(ready) {
                    if event.fd == listener.id {
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
        epoll.release()
        listener.close()
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
            guard let accepted = try? listener.accept() else { return }
            // No verdict left (swept as stale): dropping the socket closes it.
            guard let verdict = server.takeVerdict(accepted.id) else { continue }
            let socket = accepted.id
            try? accepted.set(SRTO_RCVSYN, false)
            let token = UInt64.random(in: 1...UInt64.max)
            let connection = SRTConnection(socket: accepted, token: token, verdict: verdict, logger: server.logger)
            connection.latencyMilliseconds =
                (try? accepted.getInt32(SRTO_RCVLATENCY)).map(Int.init) ?? server.configuration.latencyMilliseconds
            connections[socket] = connection
            count.store(connections.count, ordering: .relaxed)
            _ = server.addressCounts.withLock { $0.open(RTMPServer.host(of: verdict.remoteAddress)) }
            let server = server
            let registryConnection = SessionRegistry.Connection(token: token, role: verdict.role) { [weak self] _, description in
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
        case .started(let started), .resumed(let started), .attached(let started):
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
        session.demand.setResume({ [weak self] in self?.post(.resume(socket, token: token)) }, for: connection.verdict.role)
        watch(connection.socket)
        // libsrt's epoll reports a socket when it becomes readable, not what it already holds.
        read(connection)
    }

    private func watch(_ socket: SRTSocket) {
        try? epoll.add(socket, [.input, .error])
    }

    private func read(_ connection: SRTConnection) {
        for _ in 0..<Self.readsPerTurn {
            let socket = connection.socket
            let result = buffer.withUnsafeMutableBytes { raw in
                Result { () throws(SRTError) in try socket.receiveMessage(into: raw) }
            }
            guard case .success(let message) = result else {
                end(connection, reason: .encoderClosed, detail: nil)
                return
            }
            // Nothing waiting: the socket is drained for now.
            guard let received = message else { break }
            guard received > 0, received <= buffer.count else {
                end(connection, reason: .encoderClosed, detail: nil)
                return
            }
            let outcome = buffer.withUnsafeBytes { raw in
                connection.received(UnsafeRawBufferPointer(rebasing: raw[0..<received]), server: server)
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
        try? epoll.remove(connection.socket)
    }

    /// Batches, statistics and the idle timeout, about every turn.
    private func housekeeping() {
        let now = ContinuousClock.now
        let ingest = server.ingest
        for connection in Array(connections.values) where connection.live != nil {
            // libsrt's epoll can miss data that TSBPD released while a socket was being (re)added:
            // a non-blocking poll each turn is cheap (a locked buffer check) and keeps it moving.
            if !connection.paused { read(connection) }
            guard connections[connection.socket.id] != nil else { continue }
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
        guard connections.removeValue(forKey: connection.socket.id) != nil else { return }
        count.store(connections.count, ordering: .relaxed)
        server.addressCounts.withLock { $0.close(RTMPServer.host(of: connection.verdict.remoteAddress)) }
        let counters = connection.extractor.demuxer.counters
        connection.logger.info(
            "SRT connection ended",
            metadata: [
                "reason": "\(reason.rawValue)", "bytes": "\(connection.bytesReceived)", "ts_packets": "\(counters.packets)",
                "cc_errors": "\(counters.continuityErrors)", "skipped_bytes": "\(counters.skippedBytes)",
            ])
        if let live = connection.live {
            var held = TSMediaExtractor.Output()
            connection.extractor.flushHeldVideo(into: &held)
            connection.pendingMedia += held.items
            _ = connection.flushMedia()
            connection.sampleStats(server: server)
            live.demand.setResume(nil, for: connection.verdict.role)
            endings.append(Ending(sessionID: live.id, token: connection.token, reason: reason, detail: detail))
            connection.live = nil
        }
        try? epoll.remove(connection.socket)
        connection.socket.close()
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
