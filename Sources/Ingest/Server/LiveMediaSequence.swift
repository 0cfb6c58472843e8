import Media
import NIOCore
import Synchronization

/// A live session's media items, in order, across reconnects. Single consumer: iterate it once.
///
/// Bounded: when `highWatermark` items wait, the connection stops reading its socket until the
/// consumer has drained the queue to `lowWatermark`, so TCP pushes back on the encoder.
public struct LiveMediaSequence: AsyncSequence, Sendable {
    public typealias Element = MediaItem
    public typealias Failure = Never
    typealias Producer = NIOAsyncSequenceProducer<
        MediaItem, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, MediaDemand
    >

    let producer: Producer
    let depth: QueueDepth

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: Producer.AsyncIterator
        let depth: QueueDepth

        public mutating func next() async -> MediaItem? {
            let item = await base.next()
            if item != nil { depth.counter.subtract(1, ordering: .relaxed) }
            return item
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: producer.makeAsyncIterator(), depth: depth)
    }
}

/// Items yielded but not yet taken by the consumer.
final class QueueDepth: Sendable {
    let counter = Atomic<Int>(0)
    var value: Int { counter.load(ordering: .relaxed) }
}

/// Tells the connections feeding a session (its primary and backup inputs) that the consumer wants more.
final class MediaDemand: NIOAsyncSequenceProducerDelegate {
    private let resume = Mutex<[IngestInputRole: @Sendable () -> Void]>([:])
    private let terminated = Atomic<Bool>(false)

    func setResume(_ action: (@Sendable () -> Void)?, for role: IngestInputRole = .primary) {
        resume.withLock { $0[role] = action }
    }

    var consumerGone: Bool { terminated.load(ordering: .relaxed) }

    func produceMore() {
        for action in resume.withLock({ Array($0.values) }) { action() }
    }

    func resume(_ role: IngestInputRole) {
        resume.withLock { $0[role] }?()
    }

    func didTerminate() {
        terminated.store(true, ordering: .relaxed)
        produceMore()
    }

    func clear() {
        resume.withLock { $0.removeAll() }
    }
}
