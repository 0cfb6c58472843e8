import EventStore
import Foundation
import Gateway
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Delivers webhooks from the log (docs/api.md#webhooks). The log is the outbox: each
/// subscription reads the events of its types after its position (`projection_checkpoints`,
/// `webhook:ID`) in order, and its position moves past an event only once the receiver answered
/// 2xx or the event was dead-lettered (`WebhookDeliveryFailed`) after the last retry, so a crash
/// or a restart delivers it again: at least once, with the event's position in `webhook-id` for
/// the receiver to drop duplicates. One node of a cluster delivers: the live node with the
/// smallest id.
public final class WebhookDispatcher: Service, CustomStringConvertible {
    public struct Options: Sendable {
        public var maxAttempts = 8
        /// The wait before the second attempt; it doubles after each failure, up to `retryCap`.
        public var retryBase = Duration.seconds(1)
        public var retryCap = Duration.seconds(60)
        public var timeout = TimeAmount.seconds(10)

        public init() {}
    }

    public let description = "webhook dispatcher"
    /// The workers' thread, started with the first: receivers, however slow or hostile, share
    /// no thread with the HTTP API, and what delivering costs can be read off one thread.
    static let group = MultiThreadedEventLoopGroup._makePerpetualGroup(threadNamePrefix: "NIO-HOOK-", numberOfThreads: 1)
    /// How often a caught-up worker looks whether the log grew.
    static let gather = TimeAmount.milliseconds(50)
    let registry: WebhookRegistry
    let leases: ClusterLeases
    let options: Options
    let logger: Logger

    public init(registry: WebhookRegistry, leases: ClusterLeases, options: Options = Options(), logger: Logger) {
        self.registry = registry
        self.leases = leases
        self.options = options
        self.logger = logger
    }

    var store: EventStore { registry.store }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.supervise() }
        logger.info("stopped \(description)")
    }

    /// Keeps one worker per live subscription while this node is the cluster's dispatcher.
    private func supervise() async {
        var workers: [UUID: (hook: Webhook, task: Task<Void, Never>)] = [:]
        while !Task.isCancelled {
            if let hooks = await currentHooks() {
                let wanted = Dictionary(uniqueKeysWithValues: hooks.map { ($0.id, $0) })
                for (id, worker) in workers where wanted[id] != worker.hook {
                    worker.task.cancel()
                    workers[id] = nil
                }
                for (id, hook) in wanted where workers[id] == nil {
                    let loop = Self.group.next()
                    let worker = WebhookWorker(hook: hook, dispatcher: self, loop: loop)
                    workers[id] = (hook, Task(executorPreference: WebhookLoopExecutor(loop: loop)) { await worker.run() })
                }
            }
            try? await Task.sleep(for: .seconds(1))
        }
        for worker in workers.values { worker.task.cancel() }
        for worker in workers.values { await worker.task.value }
    }

    /// The subscriptions to serve now: none unless this node is the live node with the smallest id;
    /// nil when that cannot be told (the workers keep going).
    private func currentHooks() async -> [Webhook]? {
        do {
            let nodes = try await leases.nodes().filter(\.isLive).map(\.nodeID)
            if let first = nodes.min(), first != leases.nodeID { return [] }
            return try await registry.list()
        } catch {
            return nil
        }
    }

    /// The subscription's position; nil once it is removed.
    func checkpoint(_ name: String) async throws -> Int64? {
        let rows = try await store.readModels.query("SELECT position FROM projection_checkpoints WHERE name = \(name)")
        for try await position in rows.decode(Int64.self) { return position }
        return nil
    }

    func advance(_ name: String, to position: Int64) async throws -> Bool {
        let rows = try await store.readModels.query(
            "UPDATE projection_checkpoints SET position = GREATEST(position, \(position)) WHERE name = \(name) RETURNING position")
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// `{"type", "timestamp", "data": {"position", "stream", "eventId", "schemaVersion", "event", "metadata"}}`,
    /// the event's own JSON as stored.
    static func body(_ event: RecordedEvent) -> [UInt8] {
        var json = WebhookJSON(capacity: event.dataText.utf8.count + 512)
        json.raw(#"{"type":"#)
        json.string(event.eventType)
        json.raw(#","timestamp":"#)
        json.string(event.recordedAt)
        json.raw(#","data":{"position":"#)
        json.number(event.position)
        json.raw(#","stream":"#)
        json.string(event.streamId)
        json.raw(#","eventId":"#)
        json.string(event.eventId, lowercase: true)
        json.raw(#","schemaVersion":"#)
        json.number(Int64(event.schemaVersion))
        json.raw(#","event":"#)
        json.raw(event.dataText)
        json.raw(#","metadata":"#)
        write(event.metadata, into: &json)
        json.raw("}}")
        return json.bytes
    }

    /// `metadata` as `EventCoding`'s encoder writes it (sorted keys, absent fields left out).
    static func write(_ metadata: EventMetadata, into json: inout WebhookJSON) {
        json.raw(#"{"actor":{"id":"#)
        json.string(metadata.actor.id)
        json.raw(#","kind":"#)
        json.string(metadata.actor.kind.rawValue)
        json.raw("}")
        if let id = metadata.causationId {
            json.raw(#","causationId":"#)
            json.string(id, lowercase: false)
        }
        if let id = metadata.correlationId {
            json.raw(#","correlationId":"#)
            json.string(id, lowercase: false)
        }
        if let reason = metadata.reason {
            json.raw(#","reason":"#)
            json.string(reason)
        }
        if let id = metadata.requestId {
            json.raw(#","requestId":"#)
            json.string(id)
        }
        if let date = metadata.spooledAt {
            json.raw(#","spooledAt":"#)
            json.string(date)
        }
        json.raw("}")
    }
}

/// Runs a worker's task on its loop. A continuation resumed from the loop (each answer, each
/// timer) otherwise resumes on the global executor and hops back to the actor: two thread
/// wake-ups per delivery (docs/benchmarks.md#opsbenchwebhooks). With the loop as the task's
/// preferred executor it resumes where it was resumed, in the same loop tick.
final class WebhookLoopExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}
