import Foundation
import NIOCore
import Synchronization

/// One socket's bounded outgoing queue of complete WebSocket text frames. Fan-out appends and
/// never waits: a message is framed once per room (server frames are unmasked, so the same bytes
/// suit every socket) and the same buffer is queued for every socket. The
/// socket's writer takes everything queued in one go, writes it with one flush and reports when
/// the kernel has it. A socket with `capacity` frames queued or not yet written is evicted (its
/// socket is closed 1013), so a reader that cannot keep up costs bounded memory and delays nobody.
public final class ChatSubscriber: Sendable {
    struct State {
        var queue: [ByteBuffer] = []
        /// Taken by the writer, not yet accepted by the kernel.
        var unwritten = 0
        /// `wake` was called and the writer has not taken the queue since.
        var scheduled = false
        var closed = false
        var evicted = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    public let id = UUID()
    public let capacity: Int
    private let state = Mutex(State())
    private let wake: @Sendable (ChatSubscriber) -> Void

    /// `wake` is called (outside the lock) when frames are queued and no writer run is pending;
    /// the writer then calls `take()`.
    public init(capacity: Int = 1_024, wake: @escaping @Sendable (ChatSubscriber) -> Void = { _ in }) {
        self.capacity = Swift.max(1, capacity)
        self.wake = wake
    }

    public var isEvicted: Bool { state.withLock { $0.evicted } }
    public var isClosed: Bool { state.withLock { $0.closed } }
    /// Frames queued or written but not yet accepted by the kernel.
    public var backlog: Int { state.withLock { $0.queue.count + $0.unwritten } }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Self.frame(text)) }

    /// `text` as an unmasked, final WebSocket text frame (RFC 6455 §5.2).
    public static func frame(_ text: String) -> ByteBuffer {
        let length = text.utf8.count
        var frame = ByteBuffer()
        frame.reserveCapacity(length + 10)
        frame.writeInteger(UInt8(0x81))
        if length < 126 {
            frame.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            frame.writeInteger(UInt8(126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(127))
            frame.writeInteger(UInt64(length))
        }
        frame.writeString(text)
        return frame
    }

    /// Queues a frame (from `frame(_:)`); returns false when the socket is gone, or is evicted now because its queue
    /// is full.
    @discardableResult
    public func send(_ frame: ByteBuffer) -> Bool {
        enum Outcome { case queued, wake, full, closed }
        let outcome = state.withLock { state -> Outcome in
            guard !state.closed else { return .closed }
            guard state.queue.count + state.unwritten < capacity else { return .full }
            state.queue.append(frame)
            if state.scheduled { return .queued }
            state.scheduled = true
            return .wake
        }
        switch outcome {
        case .queued: return true
        case .wake: wake(self); return true
        case .closed: return false
        case .full: evict(); return false
        }
    }

    /// Everything queued, oldest first, now counted as unwritten until `written(_:)`.
    public func take() -> [ByteBuffer] {
        state.withLock { state in
            state.scheduled = false
            guard !state.closed else { state.queue = []; return [] }
            let frames = state.queue
            state.queue = []
            state.unwritten += frames.count
            return frames
        }
    }

    /// The kernel accepted `count` frames from `take()` (or they were dropped with the socket).
    public func written(_ count: Int) {
        state.withLock { $0.unwritten = Swift.max(0, $0.unwritten - count) }
    }

    public func evict() { end(evicting: true) }

    /// Ends the queue (the socket closed) and releases `waitForEnd`.
    public func finish() { end(evicting: false) }

    private func end(evicting: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.closed else { return [] }
            state.closed = true
            state.evicted = evicting
            state.queue = []
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the subscriber is evicted or finished; true when evicted.
    public func waitForEnd() async -> Bool {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.closed { return true }
                state.waiters.append(waiter)
                return false
            }
            if now { waiter.resume() }
        }
        return isEvicted
    }
}
