import Chat
import NIOCore
import NIOWebSocket
import Synchronization

/// Writes chat sockets' frames straight into their channels, below the async writer and the frame
/// encoder. Per event loop, one task per burst goes through the loop's sockets of every room feed
/// that advanced, and every socket woken for its own frames, since the last run; it writes each
/// socket's due frames with one flush, in turns that loops take (`turns`). Fan-out thus costs no
/// task, actor hop, copy or queue entry per socket per message; under load, frames that arrive
/// while a run is pending go out together.
final class ChatSocketWriter: Sendable {
    /// One per event loop; loops live as long as the process.
    private let loops = Mutex<[ObjectIdentifier: LoopWriter]>([:])
    /// How long a woken loop waits before writing, so that frames due close together go out in
    /// one write per socket; under load, frames that arrive while turns are pending go out
    /// together anyway. Why 1 ms: docs/benchmarks.md#chat-writer.
    let coalescing: TimeAmount

    /// How many loops may write at once.
    let turns: TurnPermits

    /// `concurrentWriters` defaults to half the cores: writing is nearly all of fan-out's CPU, and
    /// the other half stays free for reading posts, committing them, ingest and transcoding
    /// (docs/benchmarks.md#chat-writer).
    init(coalescing: TimeAmount = .milliseconds(1), concurrentWriters: Int = System.coreCount / 2) {
        self.coalescing = coalescing
        self.turns = TurnPermits(concurrentWriters)
    }

    /// A subscriber whose frames go to `channel`'s WebSocket connection, written in below its
    /// frame encoder (TLS, when there is one, is further down still): the frames are encoded
    /// already.
    func subscriber(for channel: any Channel, capacity: Int) async throws -> ChatSubscriber {
        // Looked up once, not per write (docs/benchmarks.md#chat-writer).
        let encoder = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self).loopBound
        }.get()
        let loop = loops.withLock { loops in
            let key = ObjectIdentifier(channel.eventLoop)
            if let loop = loops[key] { return loop }
            let loop = LoopWriter(eventLoop: channel.eventLoop, coalescing: coalescing, turns: turns)
            loops[key] = loop
            return loop
        }
        return ChatSubscriber(capacity: capacity, writer: Socket(loop: loop, encoder: encoder))
    }

    /// One socket's writer: its loop's, with the socket's frame encoder.
    struct Socket: ChatFrameWriter {
        let loop: LoopWriter
        let encoder: NIOLoopBound<ChannelHandlerContext>

        func wake(_ subscriber: ChatSubscriber) { loop.wake(subscriber, encoder) }
        func attach(_ subscriber: ChatSubscriber, to feed: ChatFeed) { loop.attach(subscriber, encoder, to: feed) }
        func detach(_ subscriber: ChatSubscriber, from feed: ChatFeed) { loop.detach(subscriber, from: feed) }
    }

    /// Permits to write a turn. A loop without one queues, and the loop that finishes a turn hands
    /// its permit to the first queued (going to the back itself if it has more), so loops take
    /// turns in order and none waits on a timer.
    final class TurnPermits: Sendable {
        private let state: Mutex<(free: Int, waiting: [LoopWriter])>

        /// At least one permit, whatever `count` says.
        init(_ count: Int) { state = Mutex((Swift.max(1, count), [])) }

        /// True with a permit; otherwise `writer` is queued, to be handed one.
        func acquire(_ writer: LoopWriter) -> Bool {
            state.withLock { state in
                if state.free > 0 {
                    state.free -= 1
                    return true
                }
                if !state.waiting.contains(where: { $0 === writer }) { state.waiting.append(writer) }
                return false
            }
        }

        /// The writer that now holds the permit, or nil when it was returned to the pool.
        func release(requeueing writer: LoopWriter?) -> LoopWriter? {
            state.withLock { state in
                guard !state.waiting.isEmpty else {
                    state.free += 1
                    return nil
                }
                let next = state.waiting.removeFirst()
                if let writer, !state.waiting.contains(where: { $0 === writer }) { state.waiting.append(writer) }
                return next
            }
        }
    }

    final class LoopWriter: Sendable {
        typealias Target = (subscriber: ChatSubscriber, encoder: NIOLoopBound<ChannelHandlerContext>)

        /// Sockets due for a write, in order: one woken for its own frames, or a feed's sockets on
        /// this loop; once started, as they were then, written from `next` on.
        enum Work {
            case socket(Target)
            case feed(ObjectIdentifier)
            case sweep(ObjectIdentifier, [Target], next: Int)
        }

        struct State {
            var work: [Work] = []
            /// Per feed: its sockets on this loop, and whether a `.feed` item for it waits unstarted
            /// (then a later advance needs none of its own: the sweep reads up to the head).
            var feeds: [ObjectIdentifier: (sockets: [Target], waiting: Bool)] = [:]
            var scheduled = false
        }

        let eventLoop: any EventLoop
        let coalescing: TimeAmount
        let turns: TurnPermits
        private let state = Mutex(State())

        init(eventLoop: any EventLoop, coalescing: TimeAmount, turns: TurnPermits) {
            self.eventLoop = eventLoop
            self.coalescing = coalescing
            self.turns = turns
        }

        func wake(_ subscriber: ChatSubscriber, _ encoder: NIOLoopBound<ChannelHandlerContext>) {
            enqueue { state in
                state.work.append(.socket((subscriber, encoder)))
                return true
            }
        }

        /// Applies `change`, which says whether it queued work, and schedules a run for that work
        /// unless one is pending.
        private func enqueue(_ change: (inout State) -> Bool) {
            let schedule = state.withLock { state -> Bool in
                guard change(&state), !state.scheduled else { return false }
                state.scheduled = true
                return true
            }
            if schedule { eventLoop.scheduleTask(in: coalescing) { self.run() } }
        }

        func attach(_ subscriber: ChatSubscriber, _ encoder: NIOLoopBound<ChannelHandlerContext>, to feed: ChatFeed) {
            let key = ObjectIdentifier(feed)
            state.withLock { state in
                if state.feeds[key] == nil {
                    state.feeds[key] = ([], false)
                    // The feed wakes this loop once per advance, whatever its number of sockets here.
                    feed.listen(ObjectIdentifier(self)) { feed in self.advanced(ObjectIdentifier(feed)) }
                }
                state.feeds[key]?.sockets.append((subscriber, encoder))
            }
        }

        func detach(_ subscriber: ChatSubscriber, from feed: ChatFeed) {
            let key = ObjectIdentifier(feed)
            state.withLock { state in
                state.feeds[key]?.sockets.removeAll { $0.subscriber === subscriber }
                if state.feeds[key]?.sockets.isEmpty == true {
                    state.feeds[key] = nil
                    feed.stopListening(ObjectIdentifier(self))
                }
            }
        }

        private func advanced(_ key: ObjectIdentifier) {
            enqueue { state in
                guard let feed = state.feeds[key], !feed.waiting else { return false }
                state.feeds[key]?.waiting = true
                state.work.append(.feed(key))
                return true
            }
        }

        /// Sockets written per turn of the loop; the loop reads between turns, so a post arriving
        /// meanwhile is not held until every queue is written (docs/benchmarks.md#chat-writer).
        static let socketsPerTurn = 100

        /// On `eventLoop`.
        private func run() {
            guard turns.acquire(self) else { return }
            finish(turn())
        }

        /// After a turn, holding a permit: hands it on, or keeps writing.
        private func finish(_ more: Bool) {
            if let next = turns.release(requeueing: more ? self : nil) {
                next.eventLoop.execute { next.finish(next.turn()) }
            } else if more {
                // Scheduled only now, a little later: NIO runs every task already due before it
                // next polls its sockets, so a turn scheduled when this one began (already due by
                // now) would keep posts from being read until every queue was written.
                eventLoop.scheduleTask(in: .microseconds(50)) { self.run() }
            }
        }

        static func joined(_ frames: [ByteBuffer], allocator: ByteBufferAllocator) -> ByteBuffer {
            if frames.count == 1 { return frames[0] }
            var joined = allocator.buffer(capacity: frames.reduce(0) { $0 + $1.readableBytes })
            for frame in frames { joined.writeImmutableBuffer(frame) }
            return joined
        }

        /// The next `limit` sockets due, and whether more are.
        private func due(_ limit: Int) -> ([Target], Bool) {
            state.withLock { state in
                var targets: [Target] = []
                var taken = 0
                while targets.count < limit, taken < state.work.count {
                    switch state.work[taken] {
                    case .socket(let target):
                        targets.append(target)
                        taken += 1
                    case .feed(let key):
                        // Starting: the sockets there are now (a socket attached later starts at a
                        // later frame); an advance from now on needs a sweep of its own.
                        state.work[taken] = .sweep(key, state.feeds[key]?.sockets ?? [], next: 0)
                        state.feeds[key]?.waiting = false
                    case .sweep(let key, let sockets, let next):
                        let end = Swift.min(sockets.count, next + limit - targets.count)
                        targets.append(contentsOf: sockets[next..<end])
                        if end < sockets.count {
                            state.work[taken] = .sweep(key, sockets, next: end)
                        } else {
                            taken += 1
                        }
                    }
                }
                state.work.removeFirst(taken)
                state.scheduled = !state.work.isEmpty
                return (targets, state.scheduled)
            }
        }

        /// Writes up to `socketsPerTurn` sockets; true when more are pending. On `eventLoop`.
        private func turn() -> Bool {
            let (sockets, more) = due(Self.socketsPerTurn)
            for (subscriber, encoder) in sockets {
                let frames = subscriber.take()
                guard !frames.isEmpty else { continue }
                // A closed channel's context fails the write; the frames count as written then.
                let encoder = encoder.value
                let channel = encoder.channel
                // One buffer, one pass down the pipeline: a socket's turn carries several frames
                // under load, and copying them together costs less than a pipeline write each.
                encoder.write(NIOAny(Self.joined(frames, allocator: channel.allocator)), promise: nil)
                let count = frames.count
                // What NIO holds beyond its high-water mark (64 KiB) stays counted until the
                // kernel takes it; below that the frames are as good as written.
                if channel.isWritable {
                    encoder.flush()
                    subscriber.written(count)
                } else {
                    // Writes complete in order: a marker behind the batch stands for it.
                    let promise = eventLoop.makePromise(of: Void.self)
                    encoder.write(NIOAny(ByteBuffer()), promise: promise)
                    encoder.flush()
                    promise.futureResult.whenComplete { _ in subscriber.written(count) }
                }
            }
            return more
        }
    }
}
