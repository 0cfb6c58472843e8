import Foundation

/// A loopback port that was free a moment ago (bound to port 0 and released), for servers a test
/// starts as separate processes.
public func freeLoopbackPort(udp: Bool = false) -> Int {
    let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Listens on a loopback TCP port (with `SO_REUSEADDR`, as PostgreSQL binds, so it can take a port
/// whose old connections linger) and never answers: a database whose port another process took.
/// Retries for `within` while the port is still in use; nil if it never got it.
public final class PortHolder: Sendable {
    private let fd: Int32

    public init?(port: Int, within: Duration = .seconds(5)) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let deadline = ContinuousClock.now + within
        while withUnsafePointer(
            to: &address,
            {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }) != 0
        {
            guard ContinuousClock.now < deadline else {
                close(fd)
                return nil
            }
            usleep(10_000)
        }
        listen(fd, 64)
        self.fd = fd
    }

    public func release() { close(fd) }
}
