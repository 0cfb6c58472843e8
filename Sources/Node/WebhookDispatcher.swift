import AsyncHTTPClient
import Channels
import EventStore
import Foundation
import Gateway
import Logging
import Media
import NIOCore
import NIOHTTP1
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
    static let gather = Duration.milliseconds(50)
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
                    workers[id] = (hook, Task { await self.work(hook) })
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

    /// One subscription's deliveries, in log order. What it costs per event is kept small: the
    /// secret is read at most every 5 s, attempts are recorded in batches, and the position is
    /// written at most every 250 ms (a crash in between delivers those events again).
    private func work(_ hook: Webhook) async {
        let name = WebhookRegistry.checkpoint(hook.id)
        let filter = EventFilter(types: hook.events)
        let state = WorkerState(hook: hook, registry: registry)
        var position: Int64?
        var written: Int64 = 0
        var lastWrite = ContinuousClock.now
        func write(_ target: Int64) async throws -> Bool {
            await state.flush()
            guard target > written else { return true }
            guard try await advance(name, to: target) else { return false }
            (written, lastWrite) = (target, .now)
            return true
        }
        while !Task.isCancelled {
            do {
                if position == nil {
                    guard let stored = try await checkpoint(name) else { return }
                    (position, written) = (stored, stored)
                }
                guard let from = position else { return }
                let head = await store.knownHeadPosition()
                let page = try await store.read(after: from, limit: 100, filter: filter)
                var interrupted = false
                var reached = from
                for event in page {
                    guard await deliver(event, to: hook, state: state) else {
                        interrupted = true
                        break
                    }
                    reached = event.position
                }
                position = reached
                if Task.isCancelled { break }
                if page.isEmpty || ContinuousClock.now - lastWrite >= .milliseconds(250) {
                    guard try await write(page.isEmpty ? max(head, reached) : reached) else { return }
                }
                if interrupted {
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                if page.isEmpty {
                    position = max(head, reached)
                    await store.waitForEvents(after: max(head, reached))
                    // A moment for the commits that follow: one read and one position write for
                    // several events rather than for each.
                    try await Task.sleep(for: Self.gather)
                }
            } catch {
                if Task.isCancelled { break }
                logger.warning("webhook \(hook.id) could not read the log, retrying: \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
        // Stopping: what was delivered is written too (best effort; the task is cancelled).
        if let position, position > written {
            await Task.detached { [self] in
                await state.flush()
                _ = try? await self.advance(name, to: position)
            }.value
        }
    }

    /// The subscription's position; nil once it is removed.
    private func checkpoint(_ name: String) async throws -> Int64? {
        let rows = try await store.readModels.query("SELECT position FROM projection_checkpoints WHERE name = \(name)")
        for try await position in rows.decode(Int64.self) { return position }
        return nil
    }

    private func advance(_ name: String, to position: Int64) async throws -> Bool {
        let rows = try await store.readModels.query(
            "UPDATE projection_checkpoints SET position = GREATEST(position, \(position)) WHERE name = \(name) RETURNING position")
        for try await _ in rows.decode(Int64.self) { return true }
        return false
    }

    /// Delivers `event` until the receiver takes it or the attempts run out (then dead-letters
    /// it); false when cancelled, or when the dead letter could not be written (the event is
    /// delivered again from its first attempt).
    func deliver(_ event: RecordedEvent, to hook: Webhook, state: WorkerState) async -> Bool {
        let id = "evt_\(event.position)"
        let body = Self.body(event)
        var delay = options.retryBase
        var lastError = ""
        for attempt in 1...options.maxAttempts {
            if Task.isCancelled { return false }
            let started = ContinuousClock.now
            var status: Int?
            do {
                try await registry.targets.check(hook.url)
                guard let secret = try await state.secret() else { throw WebhookError.invalid("the webhook has no secret") }
                let timestamp = Int64(Date().timeIntervalSince1970)
                var request = HTTPClientRequest(url: hook.url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "User-Agent", value: "streamd")
                request.headers.add(name: "webhook-id", value: id)
                request.headers.add(name: "webhook-timestamp", value: String(timestamp))
                request.headers.add(
                    name: "webhook-signature", value: WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret) ?? "")
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await HTTPClient.shared.execute(request, timeout: options.timeout)
                _ = try? await response.body.collect(upTo: 64 << 10)
                status = Int(response.status.code)
                lastError = (200..<300).contains(status ?? 0) ? "" : "HTTP \(response.status.code)"
            } catch {
                lastError = "\(error)"
            }
            let milliseconds = (ContinuousClock.now - started).inSeconds * 1000
            await state.record(
                WebhookDelivery(
                    position: event.position, eventType: event.eventType, attempt: attempt, status: status,
                    error: lastError.isEmpty ? nil : String(lastError.prefix(500)), durationMs: milliseconds, at: Date()))
            if lastError.isEmpty { return true }
            if attempt < options.maxAttempts {
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, options.retryCap)
            }
        }
        if Task.isCancelled { return false }
        await state.flush()
        logger.warning(
            "webhook \(hook.id) to \(hook.url): gave up on event #\(event.position) after \(options.maxAttempts) attempts: \(lastError)")
        do {
            _ = try await store.append(
                WebhookDeliveryFailed(
                    webhookId: hook.id, position: event.position, eventType: event.eventType, attempts: options.maxAttempts,
                    lastError: String(lastError.prefix(500))),
                to: "webhook-\(hook.id.uuidString.lowercased())", metadata: EventMetadata(actor: .system("webhooks")))
        } catch {
            logger.warning("webhook \(hook.id): could not record the dead letter for #\(event.position), delivering it again: \(error)")
            return false
        }
        return true
    }

    /// `{"type", "timestamp", "data": {"position", "stream", "eventId", "schemaVersion", "event", "metadata"}}`,
    /// the event's own JSON as stored.
    static func body(_ event: RecordedEvent) -> [UInt8] {
        let metadata = (try? EventCoding.encodeString(event.metadata)) ?? "{}"
        func quoted(_ text: String) -> String { (try? EventCoding.encodeString(text)) ?? "\"\"" }
        let text = """
            {"type":\(quoted(event.eventType)),"timestamp":\(quoted(EventCoding.formatDate(event.recordedAt))),\
            "data":{"position":\(event.position),"stream":\(quoted(event.streamId)),\
            "eventId":\(quoted(event.eventId.uuidString.lowercased())),"schemaVersion":\(event.schemaVersion),\
            "event":\(event.dataText),"metadata":\(metadata)}}
            """
        return Array(text.utf8)
    }
}

/// A worker's cached secret and its attempts waiting to be recorded. Used by its one worker task
/// only, so no actor: each delivery touches it twice, and a hop to an actor and back per touch
/// wakes threads for nothing.
final class WorkerState: @unchecked Sendable {
    // @unchecked: one worker task uses it, one call at a time.
    let hook: Webhook
    let registry: WebhookRegistry
    private var cached: (secret: String, at: ContinuousClock.Instant)?
    private var attempts: [WebhookDelivery] = []
    private var lastFlush = ContinuousClock.now
    private var flushes = 0

    init(hook: Webhook, registry: WebhookRegistry) {
        self.hook = hook
        self.registry = registry
    }

    /// The newest secret, read again every 5 s (a rotation signs from then on).
    func secret() async throws -> String? {
        if let cached, ContinuousClock.now - cached.at < .seconds(5) { return cached.secret }
        guard let secret = try await registry.secret(of: hook.id) else { return nil }
        cached = (secret, .now)
        return secret
    }

    /// Keeps `attempt` for the next batch; a failure, a full batch or half a second since the
    /// last one writes them.
    func record(_ attempt: WebhookDelivery) async {
        attempts.append(attempt)
        let failed = attempt.status.map { !(200..<300).contains($0) } ?? true
        if failed || attempts.count >= 100 || ContinuousClock.now - lastFlush >= .milliseconds(500) { await flush() }
    }

    func flush() async {
        guard !attempts.isEmpty else { return }
        let batch = attempts
        attempts = []
        lastFlush = .now
        flushes += 1
        try? await registry.record(batch, of: hook.id, prune: flushes % 20 == 1)
    }
}
