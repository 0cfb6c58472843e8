import CSRT

/// One libsrt epoll set (`srt_epoll_create`), released exactly once: by `release()` or in `deinit`.
///
/// Not `Sendable`: the `SRTReceiveLoop` thread alone changes it and waits on it.
final class SRTEpoll {
    struct Events: OptionSet, Sendable {
        let rawValue: Int32
        static let input = Events(rawValue: Int32(SRT_EPOLL_IN.rawValue))
        static let error = Events(rawValue: Int32(SRT_EPOLL_ERR.rawValue))
    }

    let id: Int32
    private(set) var isReleased = false

    /// `allowingEmpty`: waiting on an empty set times out instead of failing.
    init(allowingEmpty: Bool = false) throws(SRTError) {
        let id = srt_epoll_create()
        guard id >= 0 else { throw .last("srt_epoll_create") }
        self.id = id
        if allowingEmpty, srt_epoll_set(id, Int32(SRT_EPOLL_ENABLE_EMPTY.rawValue)) < 0 {
            let error = SRTError.last("srt_epoll_set")
            release()
            throw error
        }
    }

    deinit { release() }

    /// Releases the set; later calls do nothing.
    func release() {
        guard !isReleased else { return }
        isReleased = true
        srt_epoll_release(id)
    }

    func add(_ socket: SRTSocket, _ events: Events) throws(SRTError) {
        var flags = events.rawValue
        guard srt_epoll_add_usock(id, socket.id, &flags) == 0 else { throw .last("srt_epoll_add_usock") }
    }

    func update(_ socket: SRTSocket, _ events: Events) throws(SRTError) {
        var flags = events.rawValue
        guard srt_epoll_update_usock(id, socket.id, &flags) == 0 else { throw .last("srt_epoll_update_usock") }
    }

    func remove(_ socket: SRTSocket) throws(SRTError) {
        guard srt_epoll_remove_usock(id, socket.id) == 0 else { throw .last("srt_epoll_remove_usock") }
    }

    /// Waits up to `timeoutMilliseconds` and fills the front of `events`; returns how many it filled.
    func wait(into events: inout [SRT_EPOLL_EVENT], timeoutMilliseconds: Int64) throws(SRTError) -> Int {
        let ready = srt_epoll_uwait(id, &events, Int32(clamping: events.count), timeoutMilliseconds)
        guard ready >= 0 else { throw .last("srt_epoll_uwait") }
        // libsrt counts every ready socket, also those that did not fit.
        return min(Int(ready), events.count)
    }
}
