import Foundation
import Synchronization
import TestSupport

/// Many chat WebSocket connections over plain POSIX sockets, read by one `poll` thread: the
/// upgrade handshake, the server's frames (unmasked), and what a well-behaved client answers
/// (a pong to a ping, a close frame back to the server's close). Enough to hold a room full of
/// viewers open and to see how each connection ends, without a WebSocket library in this target.
final class RawChatSockets: Sendable {
    /// What one connection has seen so far.
    struct Connection: Sendable {
        var fd: Int32
        var buffer: [UInt8] = []
        /// Bytes of `buffer` already parsed (the handshake response and whole frames).
        var parsed = 0
        var upgraded = false
        /// The status line when the server refused the upgrade.
        var refused: String?
        var textFrames = 0
        var lastText: String?
        /// The close frame's code (1005 when it had none), once the server sent one.
        var closeCode: UInt16?
        var closeReason: String?
        var closeAt: ContinuousClock.Instant?
        /// The connection ended: the server closed it (EOF) or reset it.
        var ended: Ended?
        var endedAt: ContinuousClock.Instant?
    }

    enum Ended: Sendable, Equatable, CustomStringConvertible {
        case eof
        case error(Int32)
        var description: String {
            switch self {
            case .eof: "closed"
            case .error(let code): "error \(code) (\(String(cString: strerror(code))))"
            }
        }
    }

    private struct State: Sendable {
        var connections: [Connection] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let finished = Mutex<Bool>(false)
    /// False: a peer that is gone without a word, which answers nothing (no pong, no close).
    private let answering: Bool

    /// Connects `count` sockets to `path` on 127.0.0.1:`port` and sends each its upgrade request;
    /// a thread then reads them all until `close()`.
    init(port: Int, path: String, count: Int, answering: Bool = true) throws {
        self.answering = answering
        var connections: [Connection] = []
        do {
            for index in 0..<count {
                let fd = try Self.connect(port: port)
                connections.append(Connection(fd: fd))
                let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
                let request =
                    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
                guard Self.sendAll(fd, Array(request.utf8)) else {
                    throw TestSupportError("chat socket \(index): sending the upgrade request failed: errno \(errno)")
                }
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
        } catch {
            for connection in connections { Foundation.close(connection.fd) }
            throw error
        }
        state.withLock { $0.connections = connections }
        let thread = Thread { [self] in readLoop() }
        thread.name = "RawChatSockets"
        thread.start()
    }

    var snapshot: [Connection] { state.withLock { $0.connections } }

    /// Waits until every connection is upgraded and has had its join frames (backlog, settings).
    func waitJoined(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let all = snapshot
            if let refused = all.first(where: { $0.refused != nil }) {
                throw TestSupportError("a chat socket was refused: \(refused.refused ?? "")")
            }
            if let gone = all.firstIndex(where: { $0.ended != nil }) {
                throw TestSupportError("chat socket \(gone) ended before the test stopped the server: \(all[gone].ended!)")
            }
            let joined = all.filter { $0.upgraded && $0.textFrames > 0 }.count
            if joined == all.count { return }
            guard ContinuousClock.now < deadline else {
                throw TestSupportError("only \(joined) of \(all.count) chat sockets joined within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Waits until every connection has ended (or `timeout` passes); returns how many have.
    @discardableResult
    func waitEnded(timeout: Duration) async -> Int {
        let deadline = ContinuousClock.now + timeout
        while true {
            let ended = snapshot.filter { $0.ended != nil }.count
            if ended == snapshot.count || ContinuousClock.now >= deadline { return ended }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Stops the reader and closes every socket still open.
    func close() {
        state.withLock { $0.stopping = true }
        // The reader closes the descriptors on its way out; wait for it briefly.
        for _ in 0..<100 where !finished.withLock({ $0 }) { usleep(20_000) }
    }

    // MARK: - The reader

    private func readLoop() {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let open: [Int32] = state.withLock { state in
                state.stopping ? [] : state.connections.filter { $0.ended == nil }.map(\.fd)
            }
            if state.withLock({ $0.stopping }) { break }
            if open.isEmpty {
                usleep(20_000)
                continue
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), 100)
            guard ready > 0 else { continue }
            for entry in fds where entry.revents != 0 {
                var replies: [[UInt8]] = []
                var ended: Ended?
                var incoming: [UInt8] = []
                while true {
                    let count = recv(entry.fd, &chunk, chunk.count, 0)
                    if count > 0 {
                        incoming += chunk[0..<count]
                        continue
                    }
                    if count == 0 {
                        ended = .eof
                    } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
                        ended = .error(errno)
                    }
                    break
                }
                state.withLock { state in
                    guard let index = state.connections.firstIndex(where: { $0.fd == entry.fd }) else { return }
                    state.connections[index].buffer += incoming
                    replies = Self.parse(&state.connections[index])
                    if let ended, state.connections[index].ended == nil {
                        state.connections[index].ended = ended
                        state.connections[index].endedAt = .now
                    }
                }
                // A close frame often arrives with the server's FIN (it half-closes after sending
                // it): answer it all the same, as a browser does, then end our side too.
                guard answering else { continue }
                for reply in replies { _ = Self.sendAll(entry.fd, reply) }
                if ended == .eof { shutdown(entry.fd, Int32(SHUT_WR)) }
            }
        }
        for connection in state.withLock({ $0.connections }) { Foundation.close(connection.fd) }
        finished.withLock { $0 = true }
    }

    /// Parses what arrived; returns the frames to send back (pongs, the close reply).
    private static func parse(_ connection: inout Connection) -> [[UInt8]] {
        var replies: [[UInt8]] = []
        let bytes = connection.buffer
        if !connection.upgraded && connection.refused == nil {
            guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8))?.upperBound else { return [] }
            let head = String(decoding: bytes[..<end], as: UTF8.self)
            if head.hasPrefix("HTTP/1.1 101") {
                connection.upgraded = true
                connection.parsed = end
            } else {
                connection.refused = String(head.prefix(while: { $0 != "\r" }))
                connection.parsed = bytes.count
                return []
            }
        }
        guard connection.upgraded else { return [] }
        let (frames, index) = WebSocketFrames.parse(bytes, from: connection.parsed)
        for frame in frames {
            let (opcode, payload) = (frame.opcode, frame.payload)
            switch opcode {
            case 0x1:
                connection.textFrames += 1
                connection.lastText = String(decoding: payload, as: UTF8.self)
            case 0x8:
                if connection.closeCode == nil {
                    connection.closeCode = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1005
                    connection.closeReason = String(decoding: payload.dropFirst(2), as: UTF8.self)
                    connection.closeAt = .now
                    replies.append(masked(opcode: 0x8, payload: Array(payload.prefix(2))))
                }
            case 0x9:
                replies.append(masked(opcode: 0xA, payload: payload))
            default:
                break
            }
        }
        // Keep the buffer small: drop what is parsed.
        connection.buffer.removeFirst(index)
        connection.parsed = 0
        return replies
    }

    /// A client frame (clients must mask), FIN set, payload under 126 bytes.
    static func masked(opcode: UInt8, payload: [UInt8]) -> [UInt8] {
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        var frame: [UInt8] = [0x80 | opcode, 0x80 | UInt8(min(payload.count, 125))]
        frame += mask
        frame += payload.prefix(125).enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return frame
    }

    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Foundation.close(fd)
            throw TestSupportError("connect to 127.0.0.1:\(port): errno \(code)")
        }
        return fd
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    usleep(1_000)
                    continue
                }
                return false
            }
            offset += sent
        }
        return true
    }
}
