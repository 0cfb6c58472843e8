import Foundation
import TestSupport

/// HTTP/1.1 over a plain socket, for what URLSession will not do: several requests written at
/// once (pipelining) and the responses read back in order.
enum RawHTTP {
    struct Response {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// On one connection, for each round: writes its requests in one send and reads as many
    /// responses (each with a Content-Length; HEAD answers carry none of their announced body).
    static func pipelined(port: Int, _ rounds: [[(method: String, path: String)]], timeout: TimeInterval = 20) throws -> [[Response]] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(errno)") }
        defer { close(fd) }
        var wait = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestSupportError("connect to \(port): \(errno)") }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var answers: [[Response]] = []
        for requests in rounds {
            let text = requests.map { "\($0.method) \($0.path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" }.joined()
            let bytes = Array(text.utf8)
            guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw TestSupportError("send: \(errno)") }
            var responses: [Response] = []
            while responses.count < requests.count {
                if let (response, used) = parse(buffer, head: requests[responses.count].method == "HEAD") {
                    responses.append(response)
                    buffer.removeFirst(used)
                    continue
                }
                let count = recv(fd, &chunk, chunk.count, 0)
                guard count > 0 else { throw TestSupportError("connection ended after \(responses.count) of \(requests.count) responses") }
                buffer += chunk[0..<count]
            }
            answers.append(responses)
        }
        return answers
    }

    private static func parse(_ buffer: [UInt8], head: Bool) -> (Response, Int)? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard buffer.count >= 4, let end = (0...(buffer.count - 4)).first(where: { Array(buffer[$0..<$0 + 4]) == separator }) else {
            return nil
        }
        let lines = String(decoding: buffer[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let length = head ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        guard buffer.count >= end + 4 + length else { return nil }
        return (Response(status: status, headers: headers, body: Array(buffer[(end + 4)..<(end + 4 + length)])), end + 4 + length)
    }
}
