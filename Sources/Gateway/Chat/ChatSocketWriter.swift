import Chat
import NIOCore
import NIOWebSocket
import Synchronization

/// Writes chat sockets' queued frames straight into their channels, below the async writer and
/// the frame encoder: per
/// event loop, one task per burst takes the queue of every socket woken since the last run and
/// writes it with one flush per socket. Fan-out thus costs no task, actor hop or copy per socket
/// per message; under load, frames queued while a run is pending go out together.
final class ChatSocketWriter: Sendable {
    /// One per event loop; loops live as long as the process.
    private let loops = Mutex<[ObjectIdentifier: LoopWriter]>([:])

    init() {}

    /// A subscriber whose frames go to `channel`.
    func subscriber(for channel: any Channel, capacity: Int) -> ChatSubscriber {
        let loop = loops.withLock { loops in
            let key = ObjectIdentifier(channel.eventLoop)
            if let loop = loops[key] { return loop }
            let loop = LoopWriter(eventLoop: channel.eventLoop)
            loops[key] = loop
            return loop
        }
        return ChatSubscriber(capacity: capacity) { subscriber in loop.wake(subscriber, channel) }
    }

    final class LoopWriter: Sendable {
        let eventLoop: any EventLoop
        private let pending = Mutex<(sockets: [(ChatSubscriber, any Channel)], scheduled: Bool)>(([], false))

        init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

        func wake(_ subscriber: ChatSubscriber, _ channel: any Channel) {
            let schedule = pending.withLock { pending -> Bool in
                pending.sockets.append((subscriber, channel))
                if pending.scheduled { return false }
                pending.scheduled = true
                return true
            }
            if schedule { eventLoop.execute { self.run() } }
        }

        /// On `eventLoop`.
        private func run() {
            let sockets = pending.withLock { pending in
                pending.scheduled = false
                defer { pending.sockets = [] }
                return pending.sockets
            }
            for (subscriber, channel) in sockets {
                let frames = subscriber.take()
                guard let last = frames.indices.last else { continue }
                // The frames are already encoded: they enter the pipeline below the frame
                // encoder (TLS, when there is one, is further down still).
                guard let encoder = try? channel.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self) else {
                    subscriber.written(frames.count)
                    continue
                }
                // Writes complete in order: the last one's promise stands for the batch.
                let promise = eventLoop.makePromise(of: Void.self)
                for index in frames.indices {
                    encoder.write(NIOAny(frames[index]), promise: index == last ? promise : nil)
                }
                encoder.flush()
                let count = frames.count
                promise.futureResult.whenComplete { _ in subscriber.written(count) }
            }
        }
    }
}
