import Foundation
import Synchronization

/// One socket's bounded outgoing queue. Fan-out never waits on a socket: when the queue is full
/// the subscriber is evicted (the socket is closed 1013) instead of growing or delaying others.
public final class ChatSubscriber: Sendable {
    public let id = UUID()
    /// Text frames to write, in order.
    public let frames: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    private let state = Mutex<(evicted: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init(capacity: Int = 512) {
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

    public func evict() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.evicted else { return [] }
            state.evicted = true
            defer { state.waiters = [] }
            return state.waiters
        }
        continuation.finish()
        for waiter in waiters { waiter.resume() }
    }

    /// Ends the queue after what is in it (the socket closed).
    public func finish() { continuation.finish() }

    /// Returns once evicted.
    public func evicted() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.evicted { return true }
                state.waiters.append(waiter)
                return false
            }
            if now { waiter.resume() }
        }
    }
}
