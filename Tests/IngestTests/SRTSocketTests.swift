import CSRT
import Testing

@testable import Ingest

/// `SRTSocket` and `SRTEpoll` own their libsrt handles: closed or released exactly once.
@Suite struct SRTSocketTests {
    init() { SRTLibrary.started }

    static func isGone(_ state: SRT_SOCKSTATUS) -> Bool { state == SRTS_CLOSED || state == SRTS_NONEXIST }

    @Test func aSocketClosesWhenItsLastReferenceGoes() throws {
        let id = try {
            let socket = try SRTSocket()
            #expect(socket.state == SRTS_INIT)
            return socket.id
        }()
        #expect(Self.isGone(SRTSocket.state(of: id)), "state \(SRTSocket.state(of: id).rawValue)")
    }

    @Test func closingTwiceClosesOnceAndLeavesOtherSocketsAlone() throws {
        let socket = try SRTSocket()
        socket.close()
        #expect(socket.isClosed && Self.isGone(socket.state))
        let other = try SRTSocket()
        socket.close()
        #expect(other.state == SRTS_INIT)
        other.close()
        other.close()
        #expect(Self.isGone(other.state))
    }

    @Test func anEpollSetIsReleasedOnceByReleaseOrDeinit() throws {
        let epoll = try SRTEpoll(allowingEmpty: true)
        var events = [SRT_EPOLL_EVENT](repeating: SRT_EPOLL_EVENT(fd: -1, events: 0), count: 4)
        #expect(try epoll.wait(into: &events, timeoutMilliseconds: 1) == 0)
        epoll.release()
        epoll.release()
        do throws(SRTError) {
            _ = try epoll.wait(into: &events, timeoutMilliseconds: 1)
            Issue.record("waited on a released epoll set")
        } catch {
            #expect(error.isInvalidEpoll, "\(error)")
        }

        let dropped = try { try SRTEpoll().id }()
        #expect(srt_epoll_uwait(dropped, nil, 0, 0) < 0)
        #expect(srt_getlasterror(nil) == Int32(SRT_EINVPOLLID.rawValue))
    }

    final class Witness: Sendable {}

    @Test func aSocketThatNeverListenedReleasesItsListenCallback() throws {
        weak var released: Witness?
        try {
            let witness = Witness()
            released = witness
            let socket = try SRTSocket()
            try socket.setListenCallback { _ in withExtendedLifetime(witness) { false } }
        }()
        #expect(released == nil)
    }

    @Test func aListenerRefusesAndAcceptsThroughItsCallback() async throws {
        let listener = try SRTSocket()
        try listener.set(SRTO_TRANSTYPE, Int32(bitPattern: SRTT_LIVE.rawValue))
        try listener.set(SRTO_RCVSYN, false)
        let bound = SRTSocketAddress.withAddress(host: "127.0.0.1", port: 0) { address, length in
            Result { () throws(SRTError) in try listener.bind(address, length: length) }
        }
        try #require(bound).get()
        try listener.setListenCallback { caller in
            guard caller.streamID == "let-me-in" else {
                caller.reject(SRT_REJX_FORBIDDEN)
                return false
            }
            return true
        }
        try listener.listen(backlog: 4)
        let port = try #require(SRTSocketAddress.port(of: listener.localAddress()))

        guard case .failure(let refused) = await SRTTestCaller.connect(port: port, streamID: "keep-out") else {
            Issue.record("a caller the callback refused got in")
            return
        }
        #expect(refused.rejectReason == SRT_REJX_FORBIDDEN)

        guard case .success(let caller) = await SRTTestCaller.connect(port: port, streamID: "let-me-in") else {
            Issue.record("a caller the callback accepted was refused")
            return
        }
        defer { caller.close() }
        let epoll = try SRTEpoll()
        try epoll.add(listener, [.input, .error])
        var events = [SRT_EPOLL_EVENT](repeating: SRT_EPOLL_EVENT(fd: -1, events: 0), count: 4)
        var accepted: SRTSocket?
        for _ in 0..<50 where accepted == nil {
            _ = try epoll.wait(into: &events, timeoutMilliseconds: 100)
            accepted = try? listener.accept()
        }
        let socket = try #require(accepted)
        #expect(SRTSocketAddress.port(of: try socket.peerAddress()) != nil)
        #expect(try socket.getInt32(SRTO_RCVLATENCY) >= 0)
        let id = socket.id
        socket.close()
        #expect(Self.isGone(SRTSocket.state(of: id)))
        do throws(SRTError) {
            _ = try listener.accept()
            Issue.record("accepted a second caller that never came")
        } catch {
            #expect(error.isWouldBlock, "\(error)")
        }
    }
}
