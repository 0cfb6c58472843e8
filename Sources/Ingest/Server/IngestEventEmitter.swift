import EventStore
import Foundation
import Logging
import NIOCore
import Synchronization

/// Where Ingest's events go: `(stream id, event, metadata)`. Stream ids are `session-<uuid>` for a
/// session's facts, `channel-<name>` for refusals about a known channel (the stream its other
/// events are in), `ingest-<address>` otherwise.
public typealias IngestEventSink = @Sendable (_ streamID: String, _ event: any DomainEvent, _ metadata: EventMetadata) async -> Void

/// Delivers events to the sink one at a time, in the order they were emitted, off the event loop
/// (`run()` does the delivering).
///
/// The queue is bounded. A session's facts are never dropped: sessions are capped
/// (`SessionRegistry.Configuration.maxPublishers`) and each emits a bounded number per second, and
/// when the queue is past `capacity` anyway, `isSaturated` makes admission refuse new publishes.
/// Refusals from strangers pass a `RefusalSummarizer` first, and those that would overfill the
/// queue are counted into its summaries instead.
final class IngestEventEmitter: Sendable {
    private struct Envelope: Sendable {
        var streamID: String
        var event: any DomainEvent
        var metadata: EventMetadata
    }

    private struct State: Sendable {
        var queue = CircularBuffer<Envelope>()
        var summarizer: RefusalSummarizer
        var finished = false
    }

    let capacity: Int
    private let sink: IngestEventSink
    private let state: Mutex<State>
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(sink: @escaping IngestEventSink, capacity: Int = 4_096, refusals: RefusalSummarizer.Policy = .init()) {
        self.sink = sink
        self.capacity = capacity
        state = Mutex(State(summarizer: RefusalSummarizer(policy: refusals)))
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Events waiting for the sink.
    var queued: Int { state.withLock { $0.queue.count } }

    /// The queue is past its capacity: admission refuses new publishes until it drains.
    var isSaturated: Bool { queued >= capacity }

    /// Queues a fact that must be recorded (a session's start, stats, end).
    func emit(_ event: any DomainEvent, stream streamID: String, actor: EventActor, reason: String? = nil) {
        emit(event, stream: streamID, metadata: EventMetadata(actor: actor, reason: reason))
    }

    func emit(_ event: any DomainEvent, stream streamID: String, metadata: EventMetadata) {
        let envelope = Envelope(streamID: streamID, event: event, metadata: metadata)
        state.withLock { $0.queue.append(envelope) }
        wake.yield()
    }

    /// A refused publish: recorded as `event` when the address is within its allowance and the
    /// queue has room, otherwise counted into the address's next `PublishRefusalsSummarised`.
    /// Returns whether it was recorded.
    @discardableResult
    func refused(
        _ event: PublishRejected, stream streamID: String, host: String, actor: EventActor, summariseOnly: Bool = false
    ) -> Bool {
        let recorded = state.withLock { state -> Bool in
            let room = state.queue.count < capacity
            let decision = state.summarizer.refusal(
                from: host, reason: event.reason, channel: event.channelName, summariseOnly: summariseOnly || !room, now: .now,
                wallClock: Date())
            guard decision == .record else { return false }
            state.queue.append(Envelope(streamID: streamID, event: event, metadata: EventMetadata(actor: actor)))
            return true
        }
        if recorded { wake.yield() }
        return recorded
    }

    /// Counts a refused key against `host` (when the reason counts); when that locks the address
    /// out, says so in the log and as `PublishLockedOut`. The one rule for every protocol.
    func recordRefusal(
        _ reason: PublishRefusalReason, host: String, limiter: borrowing Mutex<FailedAttemptLimiter>,
        policy: FailedAttemptLimiter.Policy, logger: Logger
    ) {
        guard reason.countsAsFailedAttempt, let lockout = limiter.withLock({ $0.recordFailure(host, now: .now) }) else { return }
        emit(
            PublishLockedOut(
                remoteAddress: host, failures: policy.maxFailures, windowSeconds: policy.window.inSeconds,
                lockoutSeconds: lockout.inSeconds),
            stream: "ingest-\(host)", actor: .system("ingest"))
        logger.warning("address locked out after failed stream keys", metadata: ["remote": "\(host)"])
    }

    /// Delivers queued events, and each second the summaries of refusal windows that ended, until
    /// `finish()`; then delivers what is left, every open summary included, and returns.
    func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { [wake] in
                while (try? await Task.sleep(for: .seconds(1))) != nil { wake.yield() }
            }
            var wakes = self.wakes.makeAsyncIterator()
            while true {
                let (batch, finished) = take()
                for envelope in batch { await sink(envelope.streamID, envelope.event, envelope.metadata) }
                if finished, batch.isEmpty { break }
                if batch.isEmpty, await wakes.next() == nil { break }
            }
            group.cancelAll()
        }
    }

    /// Stops taking a turn to wait: `run()` returns once everything queued, and every summary, is
    /// delivered.
    func finish() {
        state.withLock { $0.finished = true }
        wake.yield()
    }

    private func take() -> ([Envelope], finished: Bool) {
        state.withLock { state in
            let summaries =
                state.finished
                ? state.summarizer.flush(wallClock: Date()) : state.summarizer.due(now: .now, wallClock: Date())
            for summary in summaries {
                let event = PublishRefusalsSummarised(
                    remoteAddress: summary.address, count: summary.count, reasons: summary.reasons,
                    windowStart: summary.windowStart, windowEnd: summary.windowEnd)
                let stream = summary.address == RefusalSummarizer.overflowAddress ? "ingest-overflow" : "ingest-\(summary.address)"
                state.queue.append(Envelope(streamID: stream, event: event, metadata: EventMetadata(actor: .system("ingest"))))
            }
            let batch = Array(state.queue)
            state.queue.removeAll(keepingCapacity: state.queue.count < 1_024)
            return (batch, state.finished)
        }
    }
}
