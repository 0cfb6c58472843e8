import Foundation
import Synchronization

/// One socket's bounded outgoing queue. Fan-out never waits on a socket: when the queue is full
/// the subscriber is evicted (the socket is closed 1013) instead of growing or delaying others.
public final class ChatSubscriber: Sendable {
    public let id = UUID()
    /// Text frames to write, in order.
    public let frames: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    private let state = Mutex<(evicted: Bool, closed: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, false, []))

    public init(capacity: Int = 1_024) {
        (frames, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(capacity))
    }

    public var isEvicted: Bool { state.withLock { $0.evicted } }

    /// Queues a frame; returns false (and evicts) when the queue is full.
    @discardableResult
    public func send(_ frame: String) -> Bool {
        switch continuation.yield(frame) {
        case .enqueued: return true
        case .terminated: return false
        case .dropped:
            evict()
            return false
        @unknown default: return false
        }
    }

    public func evict() { end(evicting: true) }

    /// Ends the queue (the socket closed) and releases `waitForEnd`.
    public func finish() { end(evicting: false) }

    private func end(evicting: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.closed else { return [] }
            state.closed = true
            state.evicted = evicting
            defer { state.waiters = [] }
            return state.waiters
        }
        continuation.finish()
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
