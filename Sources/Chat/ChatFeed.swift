import NIOCore
import Synchronization

/// A room's broadcast frames, kept once for all of its sockets. Fan-out appends a frame and wakes
/// each listener (one per event loop's writer, not one per socket); every socket reads on from its
/// own cursor when its writer gets to it. Broadcasting a message thus costs the same for 10
/// sockets as for 10,000 (docs/benchmarks.md#chat-feed).
///
/// While anyone reads it, the feed keeps the last `retention` frames, at least as many as any
/// reader's queue may hold: a reader further behind than that is evicted anyway. With no reader
/// left it keeps none.
public final class ChatFeed: Sendable {
    struct State {
        var frames = CircularBuffer<ByteBuffer>()
        /// The sequence number of `frames.first`.
        var first: Int64 = 0
        var retention: Int
        var listeners: [(key: ObjectIdentifier, wake: @Sendable (ChatFeed) -> Void)] = []
        var evictions = 0

        var head: Int64 { first + Int64(frames.count) }
    }

    private let state: Mutex<State>

    public init(retention: Int = 1_024) {
        state = Mutex(State(retention: Swift.max(1, retention)))
    }

    /// The sequence number the next frame gets; a reader at the head has everything.
    public var head: Int64 { state.withLock { $0.head } }

    /// Frames kept.
    public var retained: Int { state.withLock { $0.frames.count } }

    /// Readers evicted while reading this feed.
    public var evictions: Int { state.withLock { $0.evictions } }

    /// Appends `frame` (from `ChatSubscriber.frame(_:)`) and wakes every listener.
    public func append(_ frame: ByteBuffer) {
        let listeners = state.withLock { state in
            state.frames.append(frame)
            while state.frames.count > state.retention {
                state.frames.removeFirst()
                state.first += 1
            }
            return state.listeners
        }
        for listener in listeners { listener.wake(self) }
    }

    /// The frames from sequence number `cursor` to the head, and the head; nil when the oldest of
    /// them is no longer kept.
    func read(from cursor: Int64) -> (frames: [ByteBuffer], head: Int64)? {
        state.withLock { state in
            guard cursor >= state.first else { return nil }
            let head = state.head
            guard cursor < head else { return ([], head) }
            let start = state.frames.index(state.frames.startIndex, offsetBy: Int(cursor - state.first))
            return (Array(state.frames[start...]), head)
        }
    }

    /// Keeps at least `count` frames from now on.
    func keep(atLeast count: Int) {
        state.withLock { $0.retention = Swift.max($0.retention, count) }
    }

    func countEviction() {
        state.withLock { $0.evictions += 1 }
        ChatMetrics.evicted.increment()
    }

    /// Calls `wake` after every append until `stopListening(key)`. A key listens once.
    public func listen(_ key: ObjectIdentifier, _ wake: @escaping @Sendable (ChatFeed) -> Void) {
        state.withLock { state in
            guard !state.listeners.contains(where: { $0.key == key }) else { return }
            state.listeners.append((key, wake))
        }
    }

    public func stopListening(_ key: ObjectIdentifier) {
        state.withLock { state in
            state.listeners.removeAll { $0.key == key }
            // Every reader listens (itself or through its writer): none is left to need the frames.
            if state.listeners.isEmpty {
                state.first = state.head
                state.frames.removeAll()
            }
        }
    }
}
