import Foundation
import Media
import TestSupport

/// A hand-driven Enhanced RTMP publisher over a blocking socket (Debian's ffmpeg 5.1 cannot send
/// Enhanced RTMP): plain handshake, AMF0 commands, one chunk stream per kind, FLV tag bodies as
/// they come. Use it from one thread (`onThread`).
final class EnhancedRTMPPublisher {
    private let socket: Int32
    private let chunkSize = 60_000
    /// Everything the server sent so far.
    private(set) var received: [UInt8] = []
    var receivedText: String { String(decoding: received.map { (0x20...0x7E).contains($0) ? $0 : 0x20 }, as: UTF8.self) }

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw TestSupportError("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(socket)
            throw TestSupportError("connect to RTMP port \(port): errno \(errno)")
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(socket) }

    func write(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else {
                let code = errno
                while read() {}
                throw TestSupportError("send: errno \(code); the server sent: \(receivedText.suffix(600))")
            }
            sent += count
        }
    }

    /// Reads what has arrived (waiting up to 200 ms); false once the server closed the connection.
    @discardableResult
    func read() -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if count > 0 { received += buffer[..<count] }
        return count != 0
    }

    /// Reads until `text` has arrived `times` times or `seconds` pass.
    func waitFor(_ text: String, times: Int = 1, seconds: Double = 10) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while receivedText.components(separatedBy: text).count - 1 < times {
            guard Date() < deadline, read() || receivedText.components(separatedBy: text).count - 1 >= times else {
                throw TestSupportError("'\(text)' did not arrive; the server sent: \(receivedText.suffix(600))")
            }
        }
    }

    func handshake() throws {
        try write([3] + [UInt8](repeating: 0, count: 8) + (0..<1528).map { _ in UInt8.random(in: 0...255) })
        let deadline = Date().addingTimeInterval(10)
        while received.count < 1 + 1536 * 2 {
            guard Date() < deadline, read() else { throw TestSupportError("handshake: got \(received.count) bytes") }
        }
        try write(Array(received[1..<1537]))
        received.removeFirst(1 + 1536 * 2)
        try message(type: 1, chunkStream: 2, payload: Self.u32(UInt32(chunkSize)))
    }

    /// Connects (offering `fourCcList`), creates a stream and publishes `key` on it.
    func publish(port: Int, key: String, fourCCs: [String]) throws {
        try handshake()
        try command(
            "connect", 1,
            .object([
                ("app", .string("live")), ("type", .string("nonprivate")), ("flashVer", .string("FMLE/3.0")),
                ("tcUrl", .string("rtmp://127.0.0.1:\(port)/live")), ("fourCcList", .array(fourCCs.map { .string($0) })),
            ]))
        try waitFor("NetConnection.Connect.Success")
        try command("createStream", 2, .null)
        try waitFor("_result", times: 2)
        try command("publish", 3, .null, .string(key), .string("live"), stream: 1)
        try waitFor("NetStream.Publish.Start")
    }

    func metadata(_ properties: [(String, AMF)]) throws {
        try message(
            type: 18, chunkStream: 4, stream: 1,
            payload: AMF.encode([.string("@setDataFrame"), .string("onMetaData"), .ecmaArray(properties)]))
    }

    func video(_ body: [UInt8], timestamp: UInt32) throws {
        try message(type: 9, chunkStream: 6, stream: 1, timestamp: timestamp, payload: body)
    }
    func audio(_ body: [UInt8], timestamp: UInt32) throws {
        try message(type: 8, chunkStream: 5, stream: 1, timestamp: timestamp, payload: body)
    }

    func command(_ name: String, _ transaction: Double, _ values: AMF..., stream: UInt32 = 0) throws {
        try message(
            type: 20, chunkStream: stream == 0 ? 3 : 8, stream: stream, payload: AMF.encode([.string(name), .number(transaction)] + values))
    }

    /// One message as a type-0 chunk and type-3 continuations.
    func message(type: UInt8, chunkStream: UInt8, stream: UInt32 = 0, timestamp: UInt32 = 0, payload: [UInt8]) throws {
        var bytes: [UInt8] = [chunkStream]
        bytes += Array(Self.u32(min(timestamp, 0xFF_FFFF)).dropFirst()) + Array(Self.u32(UInt32(payload.count)).dropFirst()) + [type]
        bytes += Self.u32(stream.byteSwapped)
        let extended = timestamp >= 0xFF_FFFF ? Self.u32(timestamp) : []
        bytes += extended
        var offset = 0
        repeat {
            if offset > 0 { bytes += [0xC0 | chunkStream] + extended }
            let end = min(offset + chunkSize, payload.count)
            bytes += payload[offset..<end]
            offset = end
        } while offset < payload.count
        try write(bytes)
    }

    static func u32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// The few AMF0 values a publisher sends.
    enum AMF: Sendable {
        case number(Double), string(String), null, object([(String, AMF)]), ecmaArray([(String, AMF)]), array([AMF])

        static func encode(_ values: [AMF]) -> [UInt8] { values.flatMap(\.bytes) }

        var bytes: [UInt8] {
            func key(_ text: String) -> [UInt8] { [UInt8(text.utf8.count >> 8), UInt8(text.utf8.count & 0xFF)] + Array(text.utf8) }
            switch self {
            case .number(let value):
                return [0] + EnhancedRTMPPublisher.u32(UInt32(value.bitPattern >> 32))
                    + EnhancedRTMPPublisher.u32(UInt32(value.bitPattern & 0xFFFF_FFFF))
            case .string(let text): return [2] + key(text)
            case .null: return [5]
            case .object(let properties): return [3] + properties.flatMap { key($0.0) + $0.1.bytes } + [0, 0, 9]
            case .ecmaArray(let properties):
                return [8] + EnhancedRTMPPublisher.u32(UInt32(properties.count)) + properties.flatMap { key($0.0) + $0.1.bytes } + [
                    0, 0, 9,
                ]
            case .array(let values): return [0x0A] + EnhancedRTMPPublisher.u32(UInt32(values.count)) + values.flatMap(\.bytes)
            }
        }
    }
}
