import EventStore
import Foundation
import Gateway
import Logging
import NIOCore
import NIOSSL

/// One subscription's deliveries, in log order (see `WebhookDispatcher`).
///
/// It is isolated to the dispatcher's event loop, which its connection uses too, so a request,
/// its answer and the worker's own timer all happen on one thread without a hop
/// (docs/benchmarks.md#opsbenchwebhooks). Per event it reads this node's memory of the log,
/// writes the body, signs and sends on its own keep-alive connection (`WebhookHTTP.swift`); the
/// secret is read at most every 5 s, attempts are recorded in batches, and the position is written
/// at most every second (a crash in between delivers those events again, with the same ids).
actor WebhookWorker {
    let hook: Webhook
    let dispatcher: WebhookDispatcher
    let loop: any EventLoop
    private var cached: (key: WebhookSigningKey, at: ContinuousClock.Instant)?
    private var attempts: [WebhookDelivery] = []
    private var lastFlush = ContinuousClock.now
    private var flushes = 0
    private var connection: (any Channel)?
    private var endpoint: WebhookEndpoint?
    /// When `WebhookTarget` last allowed the URL (it keeps its verdicts a minute).
    private var targetChecked = ContinuousClock.now - .seconds(3_600)
    private var tls: NIOSSLContext?

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    init(hook: Webhook, dispatcher: WebhookDispatcher, loop: any EventLoop) {
        self.hook = hook
        self.dispatcher = dispatcher
        self.loop = loop
    }

    static let pageSize = 100

    func run() async {
        let store = dispatcher.store
        let name = WebhookRegistry.checkpoint(hook.id)
        let filter = EventFilter(types: hook.events)
        // Every event up to `position` was delivered, dead-lettered or passed over by the filter.
        var position: Int64?
        var written: Int64 = 0
        var lastWrite = ContinuousClock.now
        var lastEvent = ContinuousClock.now
        while !Task.isCancelled {
            do {
                if position == nil {
                    guard let stored = try await dispatcher.checkpoint(name) else { return }
                    (position, written) = (stored, stored)
                }
                guard var reached = position else { return }
                let page: [RecordedEvent]
                let through: Int64
                if let recent = store.recentPage(after: reached, limit: Self.pageSize, filter: filter) {
                    (page, through) = recent
                } else {
                    // Everything up to `head` had committed before the read began (see LogNotifier).
                    let head = await store.knownHeadPosition()
                    page = try await store.read(after: reached, limit: Self.pageSize, filter: filter)
                    let last = page.last?.position ?? reached
                    through = page.count == Self.pageSize ? last : max(head, last)
                }
                if !page.isEmpty { lastEvent = .now }
                var interrupted = false
                for event in page {
                    guard await deliver(event) else {
                        interrupted = true
                        break
                    }
                    reached = event.position
                }
                if !interrupted { reached = max(reached, through) }
                position = reached
                if Task.isCancelled { break }
                if reached > written, ContinuousClock.now - lastWrite >= .seconds(1) {
                    await flush()
                    guard try await dispatcher.advance(name, to: reached) else { return }
                    (written, lastWrite) = (reached, .now)
                }
                if interrupted {
                    try await Task.sleep(for: .seconds(1))
                } else if page.count < Self.pageSize, ContinuousClock.now - lastEvent > .seconds(1) {
                    // Caught up and idle: waits for the log's notifier (no timer of its own, so
                    // many quiet subscriptions cost nothing), then a moment for what follows.
                    await store.waitForEvents(after: reached)
                    try await loop.scheduleTask(in: WebhookDispatcher.gather) {}.futureResult.get()
                } else if page.count < Self.pageSize {
                    // Caught up while events flow: looks every `gather` on this loop's own timer
                    // whether the log grew (several events for one wake-up, and no hop to
                    // another thread), and reads after a second in any case.
                    let since = ContinuousClock.now
                    repeat {
                        try await loop.scheduleTask(in: WebhookDispatcher.gather) {}.futureResult.get()
                    } while !Task.isCancelled && store.heardHeadPosition <= reached && ContinuousClock.now - since < .seconds(1)
                }
            } catch {
                if Task.isCancelled { break }
                dispatcher.logger.warning("webhook \(hook.id) could not read the log, retrying: \(error)")
                try? await Task.sleep(for: .seconds(1))
            }
        }
        disconnect()
        // Stopping: the attempts and what was delivered are written too (best effort, off this
        // cancelled task).
        let (dispatcher, batch, reached) = (dispatcher, attempts, position.flatMap { $0 > written ? $0 : nil })
        attempts = []
        await Task.detached { [hook] in
            if !batch.isEmpty { try? await dispatcher.registry.record(batch, of: hook.id, prune: false) }
            if let reached { _ = try? await dispatcher.advance(name, to: reached) }
        }.value
    }

    /// Delivers `event` until the receiver takes it or the attempts run out (then dead-letters
    /// it); false when cancelled, or when the dead letter could not be written (the event is
    /// delivered again from its first attempt).
    func deliver(_ event: RecordedEvent) async -> Bool {
        let options = dispatcher.options
        let id = "evt_\(event.position)"
        let body = WebhookDispatcher.body(event)
        var delay = options.retryBase
        var lastError = ""
        for attempt in 1...options.maxAttempts {
            if Task.isCancelled { return false }
            let started = ContinuousClock.now
            var status: Int?
            do {
                if ContinuousClock.now - targetChecked > .seconds(60) {
                    // Off this loop: the check resolves the host with a blocking getaddrinfo, and
                    // the task prefers the loop (`WebhookLoopExecutor`).
                    let (targets, url) = (dispatcher.registry.targets, hook.url)
                    try await withTaskExecutorPreference(globalConcurrentExecutor) { try await targets.check(url) }
                    targetChecked = .now
                }
                guard let key = try await key() else { throw WebhookError.invalid("the webhook has no secret") }
                let code = try await send(id: id, body: body, key: key, timeout: options.timeout)
                status = Int(code)
                switch code {
                case 200..<300: lastError = ""
                case 300..<400: lastError = "HTTP \(code) (redirects are not followed; subscribe the final URL)"
                default: lastError = "HTTP \(code)"
                }
            } catch {
                lastError = "\(error)"
            }
            let milliseconds = (ContinuousClock.now - started).inSeconds * 1000
            await record(
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
        await flush()
        dispatcher.logger.warning(
            "webhook \(hook.id) to \(hook.url): gave up on event #\(event.position) after \(options.maxAttempts) attempts: \(lastError)")
        do {
            _ = try await dispatcher.store.append(
                WebhookDeliveryFailed(
                    webhookId: hook.id, position: event.position, eventType: event.eventType, attempts: options.maxAttempts,
                    lastError: String(lastError.prefix(500))),
                to: "webhook-\(hook.id.uuidString.lowercased())", metadata: EventMetadata(actor: .system("webhooks")))
        } catch {
            dispatcher.logger.warning(
                "webhook \(hook.id): could not record the dead letter for #\(event.position), delivering it again: \(error)")
            return false
        }
        return true
    }

    /// One signed POST on this worker's connection; the answer's status (its body is read and
    /// dropped). A kept-alive connection the receiver closed meanwhile is replaced once at once.
    private func send(id: String, body: [UInt8], key: WebhookSigningKey, timeout: TimeAmount) async throws -> UInt {
        let endpoint = try self.endpoint ?? WebhookEndpoint(hook.url)
        self.endpoint = endpoint
        let timestamp = Int64(Date().timeIntervalSince1970)
        let signature = WebhookSignature.sign(id: id, timestamp: timestamp, body: body, key: key)
        let request = endpoint.request(id: id, timestamp: timestamp, signature: signature, body: body)
        while true {
            let reused = connection?.isActive == true
            let channel: any Channel
            if let open = connection, reused {
                channel = open
            } else {
                connection?.close(promise: nil)
                connection = nil
                if endpoint.tls, tls == nil { tls = try NIOSSLContext(configuration: .makeClientConfiguration()) }
                channel = try await connectWebhook(endpoint, on: loop, tls: tls, timeout: timeout)
                connection = channel
            }
            let answer = loop.makePromise(of: UInt.self)
            channel.writeAndFlush(WebhookExchange(request: request, timeout: timeout, answer: answer), promise: nil)
            do {
                return try await withTaskCancellationHandler {
                    try await answer.futureResult.get()
                } onCancel: {
                    channel.close(promise: nil)
                }
            } catch WebhookHTTPError.closedBeforeAnswer where reused {
                continue
            } catch {
                if connection === channel { connection = nil }
                channel.close(promise: nil)
                throw error
            }
        }
    }

    /// Closes the connection (the worker is done).
    private func disconnect() {
        connection?.close(promise: nil)
        connection = nil
    }

    /// The newest secret's key, read again every 5 s (a rotation signs from then on).
    private func key() async throws -> WebhookSigningKey? {
        if let cached, ContinuousClock.now - cached.at < .seconds(5) { return cached.key }
        guard let secret = try await dispatcher.registry.secret(of: hook.id) else { return nil }
        guard let key = WebhookSigningKey(secret: secret) else { throw WebhookError.invalid("the webhook's secret is not a whsec_ secret") }
        cached = (key, .now)
        return key
    }

    /// Keeps `attempt` for the next batch; a failure, a full batch or half a second since the
    /// last one writes them.
    private func record(_ attempt: WebhookDelivery) async {
        attempts.append(attempt)
        let failed = attempt.status.map { !(200..<300).contains($0) } ?? true
        if failed || attempts.count >= 100 || ContinuousClock.now - lastFlush >= .milliseconds(500) { await flush() }
    }

    private func flush() async {
        guard !attempts.isEmpty else { return }
        let batch = attempts
        attempts = []
        lastFlush = .now
        flushes += 1
        try? await dispatcher.registry.record(batch, of: hook.id, prune: flushes % 20 == 1)
    }
}
