import EventStore
import Logging
import Synchronization

/// Where Ingest's events go: `(stream id, event, metadata)`. Stream ids are `session-<uuid>` for a
/// session's facts, `channel-<id>` for refusals about a known channel, `ingest-<address>` otherwise.
public typealias IngestEventSink = @Sendable (_ streamID: String, _ event: any DomainEvent, _ metadata: EventMetadata) async -> Void

/// Delivers events to the sink one at a time, in the order they were emitted, off the event loop.
final class IngestEventEmitter: Sendable {
    private struct Envelope: Sendable {
        var streamID: String
        var event: any DomainEvent
        var metadata: EventMetadata
    }

    private let continuation: AsyncStream<Envelope>.Continuation
    private let drain: Task<Void, Never>

    init(sink: @escaping IngestEventSink) {
        let (stream, continuation) = AsyncStream.makeStream(of: Envelope.self)
        self.continuation = continuation
        drain = Task {
            for await envelope in stream {
                await sink(envelope.streamID, envelope.event, envelope.metadata)
            }
        }
    }

    func emit(_ event: any DomainEvent, stream streamID: String, actor: EventActor, reason: String? = nil) {
        continuation.yield(Envelope(streamID: streamID, event: event, metadata: EventMetadata(actor: actor, reason: reason)))
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

    /// Stops taking events and waits until the sink has all of them.
    func finish() async {
        continuation.finish()
        await drain.value
    }
}
