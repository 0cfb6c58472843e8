import Foundation
import NIOCore
import Synchronization

/// What writes a subscriber's frames into its socket: it calls `take()` and `written(_:)`.
public protocol ChatFrameWriter: Sendable {
    /// Frames were queued for `subscriber` alone, and no write for it is pending since its last
    /// `take()`.
    func wake(_ subscriber: ChatSubscriber)
    /// `subscriber` reads `feed` from now on: write it whenever the feed advances.
    func attach(_ subscriber: ChatSubscriber, to feed: ChatFeed)
    /// `subscriber` ended; it reads `feed` no more.
    func detach(_ subscriber: ChatSubscriber, from feed: ChatFeed)
}

/// One socket's bounded outgoing queue of complete WebSocket text frames: its room's feed, read
/// from the socket's own cursor, and frames for this socket alone (backlog, acks, errors), kept in
/// order with the feed's. Server frames are unmasked, so a room's frame suits every socket.
/// The socket's writer takes everything due in one go, writes it with one flush and reports when
/// the kernel has it. A socket with more than `capacity` frames due or not yet written is evicted
/// (its socket is closed 1013), so a reader that cannot keep up costs bounded memory and delays
/// nobody.
public final class ChatSubscriber: Sendable {
    struct State {
        /// Frames for this socket alone, each after the feed's frames numbered below `after`.
        var queue: [(frame: ByteBuffer, after: Int64)] = []
        var feed: ChatFeed?
        /// The feed's next frame for this socket.
        var cursor: Int64 = 0
        /// Taken by the writer, not yet accepted by the kernel.
        var unwritten = 0
        /// `wake` was called and the writer has not taken the queue since.
        var scheduled = false
        var closed = false
        var evicted = false
        var waiters: [CheckedContinuation<Void, Never>] = []

        /// Frames due or not yet written.
        func backlog(head: Int64?) -> Int {
            queue.count + unwritten + (head.map { Int($0 - cursor) } ?? 0)
        }
    }

    /// Wakes a closure per subscriber, for a feed's advances as for its own frames.
    struct ClosureWriter: ChatFrameWriter {
        let wakeUp: @Sendable (ChatSubscriber) -> Void
        func wake(_ subscriber: ChatSubscriber) { wakeUp(subscriber) }
        func attach(_ subscriber: ChatSubscriber, to feed: ChatFeed) {
            feed.listen(ObjectIdentifier(subscriber)) { _ in subscriber.feedAdvanced() }
        }
        func detach(_ subscriber: ChatSubscriber, from feed: ChatFeed) { feed.stopListening(ObjectIdentifier(subscriber)) }
    }

    public let id = UUID()
    public let capacity: Int
    private let state = Mutex(State())
    private let writer: any ChatFrameWriter

    public init(capacity: Int = 1_024, writer: any ChatFrameWriter) {
        self.capacity = Swift.max(1, capacity)
        self.writer = writer
    }

    /// `wake` is called (outside the lock) when frames are due and no writer run is pending;
    /// the writer then calls `take()`.
    public convenience init(capacity: Int = 1_024, wake: @escaping @Sendable (ChatSubscriber) -> Void = { _ in }) {
        self.init(capacity: capacity, writer: ClosureWriter(wakeUp: wake))
    }

    public var isEvicted: Bool { state.withLock { $0.evicted } }
    public var isClosed: Bool { state.withLock { $0.closed } }
    /// Frames due, or written but not yet accepted by the kernel.
    public var backlog: Int { state.withLock { $0.backlog(head: $0.feed?.head) } }

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

    /// Queues a frame (from `frame(_:)`) for this socket alone; returns false when the socket is
    /// gone, or is evicted now because its queue is full.
    @discardableResult
    public func send(_ frame: ByteBuffer) -> Bool {
        enum Outcome { case queued, wake, full, closed }
        let outcome = state.withLock { state -> Outcome in
            guard !state.closed else { return .closed }
            let head = state.feed?.head
            guard state.backlog(head: head) < capacity else { return .full }
            state.queue.append((frame, head ?? 0))
            if state.scheduled { return .queued }
            state.scheduled = true
            return .wake
        }
        switch outcome {
        case .queued: return true
        case .wake: writer.wake(self); return true
        case .closed: return false
        case .full: evict(); return false
        }
    }

    /// Reads `feed` from its head on; its earlier frames are not for this socket.
    public func attach(to feed: ChatFeed) {
        feed.keep(atLeast: capacity)
        // Listening first: a frame appended meanwhile is then either before the cursor or woken for.
        writer.attach(self, to: feed)
        let attached = state.withLock { state -> Bool in
            guard !state.closed, state.feed == nil else { return false }
            state.feed = feed
            state.cursor = feed.head
            return true
        }
        if !attached { writer.detach(self, from: feed) }
    }

    /// The feed advanced: wakes the writer unless a run is pending (for `ClosureWriter`).
    func feedAdvanced() {
        let wake = state.withLock { state -> Bool in
            guard !state.closed, !state.scheduled else { return false }
            state.scheduled = true
            return true
        }
        if wake { writer.wake(self) }
    }

    /// Everything due, oldest first, now counted as unwritten until `written(_:)`; evicts instead
    /// when that is more than `capacity`.
    public func take() -> [ByteBuffer] {
        var overflowed = false
        let frames = state.withLock { state -> [ByteBuffer] in
            state.scheduled = false
            guard !state.closed else { state.queue = []; return [] }
            var shared: ArraySlice<ByteBuffer> = []
            var head: Int64?
            if let feed = state.feed {
                guard let read = feed.read(from: state.cursor) else {
                    overflowed = true
                    return []
                }
                shared = read.frames[...]
                head = read.head
            }
            guard state.backlog(head: head) <= capacity else {
                overflowed = true
                return []
            }
            var next = state.cursor
            if let head { state.cursor = head }
            var frames: [ByteBuffer] = []
            frames.reserveCapacity(shared.count + state.queue.count)
            for (frame, after) in state.queue {
                let before = Int(Swift.min(Swift.max(0, after - next), Int64(shared.count)))
                frames.append(contentsOf: shared.prefix(before))
                shared = shared.dropFirst(before)
                next += Int64(before)
                frames.append(frame)
            }
            frames.append(contentsOf: shared)
            state.queue = []
            state.unwritten += frames.count
            return frames
        }
        if overflowed { evict() }
        return frames
    }

    /// The kernel accepted `count` frames from `take()` (or they were dropped with the socket).
    public func written(_ count: Int) {
        state.withLock { $0.unwritten = Swift.max(0, $0.unwritten - count) }
    }

    public func evict() { end(evicting: true) }

    /// Ends the queue (the socket closed) and releases `waitForEnd`.
    public func finish() { end(evicting: false) }

    private func end(evicting: Bool) {
        let (waiters, feed) = state.withLock { state -> ([CheckedContinuation<Void, Never>], ChatFeed?) in
            guard !state.closed else { return ([], nil) }
            state.closed = true
            state.evicted = evicting
            state.queue = []
            defer {
                state.waiters = []
                state.feed = nil
            }
            return (state.waiters, state.feed)
        }
        if let feed {
            if evicting { feed.countEviction() }
            writer.detach(self, from: feed)
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
