import CSRT

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libsrt call failed. `message` is `srt_getlasterror_str`'s text, read on the failing thread
/// right after the call (libsrt keeps the last error per thread).
struct SRTError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The libsrt function that failed, e.g. `srt_bind`.
    var operation: String
    /// The `SRT_ERRNO` code.
    var code: Int32
    var message: String

    var description: String { "\(operation) failed: \(message)" }

    /// The calling thread's last libsrt error.
    static func last(_ operation: String) -> SRTError {
        let code = srt_getlasterror(nil)
        let message = srt_getlasterror_str().map { String(cString: $0) } ?? "unknown SRT error"
        return SRTError(operation: operation, code: code, message: message)
    }

    /// The calling thread's last libsrt error text (for callers holding a raw socket).
    static var lastMessage: String { srt_getlasterror_str().map { String(cString: $0) } ?? "unknown SRT error" }

    /// A non-blocking call had nothing to do (no message, no caller waiting).
    var isWouldBlock: Bool { code == Int32(SRT_EASYNCRCV.rawValue) }
    /// The epoll id is unknown: libsrt was cleaned up (the process is exiting).
    var isInvalidEpoll: Bool { code == Int32(SRT_EINVPOLLID.rawValue) }
}

/// One libsrt socket (created for the listener, or handed over by `accept`), closed exactly
/// once: by `close()` or in `deinit`.
///
/// Not `Sendable`: `SRTServer.start` sets the listener up, then the `SRTReceiveLoop` thread alone
/// uses it and every accepted socket. The one thing libsrt's own thread sees is the listen
/// callback, which gets a `Caller`, never this object.
final class SRTSocket {
    let id: SRTSOCKET
    private(set) var isClosed = false
    /// The listen callback's context. Released on close only if the socket never listened: once
    /// it has, libsrt's receiving thread may be inside the callback while the socket closes, so
    /// the hook stays for the process's life (one per started server).
    private var listenHook: Unmanaged<ListenHook>?
    private var listening = false

    /// A new socket (`srt_create_socket`).
    init() throws(SRTError) {
        let id = srt_create_socket()
        guard id >= 0 else { throw .last("srt_create_socket") }
        self.id = id
    }

    /// Takes over a socket libsrt handed out.
    private init(owning id: SRTSOCKET) {
        self.id = id
    }

    deinit { close() }

    /// Closes the socket; later calls do nothing.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        srt_close(id)
        if !listening { listenHook?.release() }
        listenHook = nil
    }

    /// libsrt's state of a socket id: `SRTS_CLOSED` or `SRTS_NONEXIST` once it is closed.
    static func state(of id: SRTSOCKET) -> SRT_SOCKSTATUS { srt_getsockstate(id) }

    var state: SRT_SOCKSTATUS { Self.state(of: id) }

    // MARK: Options

    func set<T: BitwiseCopyable>(_ option: SRT_SOCKOPT, _ value: T) throws(SRTError) {
        guard Self.set(id, option, value) else { throw .last("srt_setsockflag(\(option.rawValue))") }
    }

    func set(_ option: SRT_SOCKOPT, _ value: String) throws(SRTError) {
        guard Self.set(id, option, value) else { throw .last("srt_setsockflag(\(option.rawValue))") }
    }

    func getInt32(_ option: SRT_SOCKOPT) throws(SRTError) -> Int32 {
        var value: Int32 = 0
        var length = Int32(MemoryLayout<Int32>.size)
        guard srt_getsockflag(id, option, &value, &length) == 0 else { throw .last("srt_getsockflag(\(option.rawValue))") }
        return value
    }

    /// Sets an option on a socket id this process does not wrap (the tests' caller); true on success.
    static func set<T: BitwiseCopyable>(_ id: SRTSOCKET, _ option: SRT_SOCKOPT, _ value: T) -> Bool {
        withUnsafeBytes(of: value) { srt_setsockflag(id, option, $0.baseAddress, Int32($0.count)) == 0 }
    }

    static func set(_ id: SRTSOCKET, _ option: SRT_SOCKOPT, _ value: String) -> Bool {
        var bytes = Array(value.utf8)
        return srt_setsockflag(id, option, &bytes, Int32(bytes.count)) == 0
    }

    // MARK: Listening

    func bind(_ address: UnsafePointer<sockaddr>, length: Int32) throws(SRTError) {
        guard srt_bind(id, address, length) == 0 else { throw .last("srt_bind") }
    }

    /// A caller inside the listen callback, before its handshake completes: its socket is still
    /// libsrt's (it becomes an `SRTSocket` through `accept`), so this only reads it and rejects it.
    struct Caller {
        let id: SRTSOCKET
        let peer: UnsafePointer<sockaddr>?
        let streamID: String?

        /// The reject reason (`SRT_REJX_*`) the caller is told when `decide` refuses it.
        func reject(_ reason: Int32) {
            srt_setrejectreason(id, reason)
        }
    }

    final class ListenHook: Sendable {
        let decide: @Sendable (Caller) -> Bool
        init(_ decide: @escaping @Sendable (Caller) -> Bool) { self.decide = decide }
    }

    /// `decide` runs on libsrt's receiving thread for each caller: true accepts, false refuses.
    func setListenCallback(_ decide: @escaping @Sendable (Caller) -> Bool) throws(SRTError) {
        let hook = Unmanaged.passRetained(ListenHook(decide))
        // The hook must be a C function: it finds its context through the opaque pointer.
        let status = srt_listen_callback(
            id,
            { opaque, socket, _, peer, streamID in
                guard let opaque else { return -1 }
                let hook = Unmanaged<ListenHook>.fromOpaque(opaque).takeUnretainedValue()
                return hook.decide(Caller(id: socket, peer: peer, streamID: streamID.map { String(cString: $0) })) ? 0 : -1
            }, hook.toOpaque())
        guard status == 0 else {
            hook.release()
            throw .last("srt_listen_callback")
        }
        if !listening { listenHook?.release() }
        listenHook = hook
    }

    func listen(backlog: Int) throws(SRTError) {
        guard srt_listen(id, Int32(clamping: backlog)) == 0 else { throw .last("srt_listen") }
        listening = true
    }

    /// The next caller whose handshake completed; throws `isWouldBlock` when none is waiting on
    /// a non-blocking listener.
    func accept() throws(SRTError) -> SRTSocket {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let accepted = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { srt_accept(id, $0, &length) }
        }
        guard accepted >= 0 else { throw .last("srt_accept") }
        return SRTSocket(owning: accepted)
    }

    // MARK: Addresses

    func localAddress() throws(SRTError) -> sockaddr_storage {
        try address("srt_getsockname", srt_getsockname)
    }

    func peerAddress() throws(SRTError) -> sockaddr_storage {
        try address("srt_getpeername", srt_getpeername)
    }

    private func address(
        _ operation: String, _ call: (SRTSOCKET, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<Int32>?) -> Int32
    ) throws(SRTError) -> sockaddr_storage {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(id, $0, &length) }
        }
        guard status == 0 else { throw .last(operation) }
        return storage
    }

    // MARK: Receiving

    /// Reads one message into `buffer`: its length (0 when the peer closed), or nil when none is
    /// waiting on a non-blocking socket.
    func receiveMessage(into buffer: UnsafeMutableRawBufferPointer) throws(SRTError) -> Int? {
        guard let base = buffer.baseAddress else { return 0 }
        let received = srt_recvmsg2(id, base.assumingMemoryBound(to: CChar.self), Int32(clamping: buffer.count), nil)
        guard received >= 0 else {
            let error = SRTError.last("srt_recvmsg2")
            if error.isWouldBlock { return nil }
            throw error
        }
        return Int(received)
    }

    /// libsrt's counters (`srt_bstats`); `clear` restarts the interval ones.
    func statistics(clear: Bool) throws(SRTError) -> SRT_TRACEBSTATS {
        var perf = SRT_TRACEBSTATS()
        guard srt_bstats(id, &perf, clear ? 1 : 0) == 0 else { throw .last("srt_bstats") }
        return perf
    }
}
