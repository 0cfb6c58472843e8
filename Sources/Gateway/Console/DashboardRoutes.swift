import EventStore
import Foundation
import Hummingbird
import NIOCore
import Quality
import ServiceLifecycle
import Synchronization
import Transcode

/// `/v1/dashboard/…`: the console's reads of the `dashboard` projection, and its live feed.
struct DashboardRoutes: Sendable {
    let console: ConsoleEndpoint
    let quality: QualityReadModel

    func register(on group: RouterGroup<GatewayRequestContext>) {
        let model = console.dashboard
        group.get("dashboard/live") { _, _ in
            JSONBody.response(["sessions": try await model.liveSessions()])
        }
        // Server-Sent Events: the live sessions again each time the projection moved (at most once a
        // second), a comment every 15 s otherwise so proxies keep the stream open.
        group.get("dashboard/live/events") { _, _ in
            let feed = console.feed
            let (id, stream) = await feed.subscribe()
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody { writer in
                    // An open dashboard must not hold the server's shutdown: the stream ends with it.
                    let ending = Task {
                        guard (try? await gracefulShutdown()) != nil else { return }
                        await feed.end(id)
                    }
                    defer { ending.cancel() }
                    for await chunk in stream { try await writer.write(chunk) }
                    try await writer.finish(nil)
                })
        }
        group.get("dashboard/sessions") { request, _ in
            let query = request.uri.queryParameters
            let limit = try Self.integer(query["limit"], name: "limit", default: 50, range: 1...1_000)
            let sessions =
                if let channel = query["channel"] {
                    try await model.sessions(channel: String(channel), limit: limit)
                } else {
                    try await model.recentSessions(limit: limit)
                }
            return JSONBody.response(["sessions": sessions])
        }
        group.get("dashboard/sessions/:id") { _, context in
            let id = try context.parameters.require("id").lowercased()
            guard let session = try await model.session(id) else {
                throw APIError(.notFound, code: "not_found", "no session \(id); list sessions with GET /v1/dashboard/sessions")
            }
            let thresholds = try await quality.thresholds(channelID: session.channelID) ?? .default
            return JSONBody.response(SessionView(session: session, thresholds: thresholds))
        }
        group.get("dashboard/sessions/:id/timeline") { request, context in
            let id = try context.parameters.require("id").lowercased()
            let query = request.uri.queryParameters
            let kinds = query["kinds"].map { $0.split(separator: ",").map(String.init) }
            let after = Int64(try Self.integer(query["after"], name: "after", default: 0, range: 0...Int.max))
            let limit = try Self.integer(query["limit"], name: "limit", default: 5_000, range: 1...20_000)
            return JSONBody.response(["timeline": try await model.timeline(session: id, kinds: kinds, after: after, limit: limit)])
        }
        group.get("dashboard/activity") { request, _ in
            let query = request.uri.queryParameters
            let limit = try Self.integer(query["limit"], name: "limit", default: 100, range: 1...1_000)
            // A console that just made a change reads it back: wait (briefly) for the projection.
            if let text = query["waitFor"] {
                let position = try Self.integer(text, name: "waitFor", default: 0, range: 0...Int.max)
                await console.feed.runner.waitUntil(Int64(position), timeout: .seconds(3))
            }
            let activity = try await model.activity(
                kind: query["kind"].map(String.init), channel: query["channel"].map(String.init), limit: limit)
            return JSONBody.response(["activity": activity])
        }
        group.get("events/verify") { _, _ in
            JSONBody.response(try await console.verification.result())
        }
    }

    struct SessionView: Encodable {
        var session: DashboardReadModel.Session
        var thresholds: QualityThresholds
    }

    static func integer(_ text: Substring?, name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError(
                .badRequest, code: "invalid_parameter", "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}

/// The live sessions as an SSE stream, computed once per change for every open dashboard.
///
/// One task follows the `dashboard` projection while anyone listens: each time its checkpoint
/// moves (at most once a second) it reads the live sessions once and, when they changed, hands the
/// same bytes to every subscriber. A slow subscriber only ever holds the newest snapshot.
public actor DashboardFeed {
    let model: DashboardReadModel
    let runner: ProjectionRunner
    private var subscribers: [UUID: AsyncStream<ByteBuffer>.Continuation] = [:]
    private var latest: ByteBuffer?
    private var follower: Task<Void, Never>?
    static let minimumInterval = Duration.seconds(1)
    static let heartbeat = Duration.seconds(15)

    public init(model: DashboardReadModel, runner: ProjectionRunner) {
        self.model = model
        self.runner = runner
    }

    func subscribe() -> (UUID, AsyncStream<ByteBuffer>) {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self, bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        subscribers[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        if let latest { continuation.yield(latest) }
        if follower == nil { follower = Task { await self.follow() } }
        return (id, stream)
    }

    /// Ends one subscriber's stream (the server is shutting down).
    func end(_ id: UUID) {
        subscribers[id]?.finish()
    }

    var subscriberCount: Int { subscribers.count }

    private func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)
        if subscribers.isEmpty {
            follower?.cancel()
            follower = nil
            latest = nil
        }
    }

    private func follow() async {
        var lastSent = ContinuousClock.now - Self.heartbeat
        while !Task.isCancelled {
            let position = await runner.scanned
            do {
                let sessions = try await model.liveSessions()
                let data = try EventCoding.encoder().encode(["sessions": sessions])
                var chunk = ByteBuffer(string: "event: live\ndata: ")
                chunk.writeBytes(data)
                chunk.writeString("\n\n")
                if chunk != latest {
                    latest = chunk
                    broadcast(chunk)
                    lastSent = .now
                }
            } catch {
                if Task.isCancelled { return }
            }
            if ContinuousClock.now - lastSent >= Self.heartbeat {
                broadcast(ByteBuffer(string: ": still here\n\n"))
                lastSent = .now
            }
            let started = ContinuousClock.now
            await runner.waitUntil(position + 1, timeout: Self.heartbeat)
            let spent = ContinuousClock.now - started
            if spent < Self.minimumInterval { try? await Task.sleep(for: Self.minimumInterval - spent) }
        }
    }

    private func broadcast(_ chunk: ByteBuffer) {
        for continuation in subscribers.values { continuation.yield(chunk) }
    }
}

/// `events verify` for the console: at most one run at a time, its result kept for a minute.
public actor VerificationCache {
    let store: EventStore
    private var cached: (at: ContinuousClock.Instant, result: Result)?
    private var running: Task<Result, any Error>?

    public struct Result: Sendable, Encodable {
        var verified: Bool
        var count: Int64?
        var brokenAt: Int64?
        var message: String
        var checkedAt: Date
    }

    public init(store: EventStore) {
        self.store = store
    }

    func result() async throws -> Result {
        if let cached, ContinuousClock.now - cached.at < .seconds(60) { return cached.result }
        if let running { return try await running.value }
        let store = self.store
        let task = Task { () throws -> Result in
            let outcome = try await HashChainVerifier(store: store).verify()
            switch outcome {
            case .verified(let count):
                return Result(verified: true, count: count, brokenAt: nil, message: outcome.description, checkedAt: Date())
            case .broken(let position, _):
                return Result(verified: false, count: nil, brokenAt: position, message: outcome.description, checkedAt: Date())
            }
        }
        running = task
        defer { running = nil }
        let result = try await task.value
        cached = (.now, result)
        return result
    }
}
