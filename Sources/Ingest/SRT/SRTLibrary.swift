import CSRT

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libsrt's process-wide start-up and clean-up: the only `srt_*` calls outside `SRTSocket` and
/// `SRTEpoll`, because they belong to the library rather than to a socket or an epoll set.
enum SRTLibrary {
    static let started: Void = {
        srt_startup()
        // libsrt logs every refused handshake on stderr at its default level; streamd logs them itself.
        srt_setloglevel(2)
        // libsrt's global state is torn down by a static destructor; stop its threads first, or
        // a process exiting with SRT sockets open may crash on the way out.
        atexit { srt_cleanup() }
    }()

    // For code that holds a raw socket id rather than an `SRTSocket` (the tests' caller).

    static var lastError: String { SRTError.lastMessage }

    @discardableResult
    static func set<T: BitwiseCopyable>(_ socket: SRTSOCKET, _ option: SRT_SOCKOPT, _ value: T) -> Bool {
        SRTSocket.set(socket, option, value)
    }

    static func setString(_ socket: SRTSOCKET, _ option: SRT_SOCKOPT, _ value: String) -> Bool {
        SRTSocket.set(socket, option, value)
    }
}
