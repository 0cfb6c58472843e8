import Chat
import NIOCore
import NIOWebSocket
import Synchronization

/// Writes chat sockets' queued frames straight into their channels, below the async writer and
/// the frame encoder: per event loop, one task per burst takes the queue of every socket woken
/// since the last run and writes it with one flush per socket, in turns that loops take (`turns`).
/// Fan-out thus costs no task, actor hop or copy per socket per message; under load, frames
/// queued while a run is pending go out together.
final class ChatSocketWriter: Sendable {
    /// One per event loop; loops live as long as the process.
    private let loops = Mutex<[ObjectIdentifier: LoopWriter]>([:])
    /// How long a woken loop waits before writing, so that a broadcast has queued its frame for
    /// every socket first; under load, frames queued while turns are pending go out together
    /// anyway. 10 ms paid off while every loop wrote at once and held posts unread; with loops
    /// taking turns, 1 ms gave as low a p99 as 5 and 10 ms did, or lower, at 100–400 msg/s to
    /// 1,000 sockets (ops/bench/chat), and spares quiet rooms the wait.
    let coalescing: TimeAmount

    /// How many loops may write at once.
    let turns: TurnPermits

    /// `concurrentWriters` defaults to half the cores: writing is nearly all of fan-out's CPU
    /// (the sockets' syscalls), and on every core at once it left none for reading posts,
    /// committing them, ingest or transcoding. On two cores, one writer at a time (the other
    /// loop reading meanwhile) lowered the p99 at 200 msg/s to 1,000 sockets in 7 of 8
    /// interleaved runs, to 47–63 ms from 52–72, and the first socket's p99 to 24–36 from 32–49.
    init(coalescing: TimeAmount = .milliseconds(1), concurrentWriters: Int = System.coreCount / 2) {
        self.coalescing = coalescing
        self.turns = TurnPermits(concurrentWriters)
    }

    /// A subscriber whose frames go to `channel`'s WebSocket connection, written in below its
    /// frame encoder (TLS, when there is one, is further down still): the frames are encoded
    /// already.
    func subscriber(for channel: any Channel, capacity: Int) async throws -> ChatSubscriber {
        // Looked up once: a lookup per write took about 5 % of the writing loop's time.
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
        return ChatSubscriber(capacity: capacity) { subscriber in loop.wake(subscriber, encoder) }
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
        let eventLoop: any EventLoop
        let coalescing: TimeAmount
        let turns: TurnPermits
        private let pending = Mutex<(sockets: [(ChatSubscriber, NIOLoopBound<ChannelHandlerContext>)], scheduled: Bool)>(([], false))

        init(eventLoop: any EventLoop, coalescing: TimeAmount, turns: TurnPermits) {
            self.eventLoop = eventLoop
            self.coalescing = coalescing
            self.turns = turns
        }

        func wake(_ subscriber: ChatSubscriber, _ encoder: NIOLoopBound<ChannelHandlerContext>) {
            let schedule = pending.withLock { pending -> Bool in
                pending.sockets.append((subscriber, encoder))
                if pending.scheduled { return false }
                pending.scheduled = true
                return true
            }
            if schedule { eventLoop.scheduleTask(in: coalescing) { self.run() } }
        }

        /// Sockets written per turn of the loop. A socket's write takes 12–20 µs here (a turn
        /// about 2 ms, at worst 6 at 200 msg/s); in turns, the loop reads between them, so a post
        /// arriving meanwhile is not held until every queue is written. 40 did worse.
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

        /// Writes up to `socketsPerTurn` sockets; true when more are pending. On `eventLoop`.
        private func turn() -> Bool {
            let (sockets, more) = pending.withLock { pending in
                let count = Swift.min(pending.sockets.count, Self.socketsPerTurn)
                let taken = Array(pending.sockets.prefix(count))
                pending.sockets.removeFirst(count)
                pending.scheduled = !pending.sockets.isEmpty
                return (taken, pending.scheduled)
            }
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
