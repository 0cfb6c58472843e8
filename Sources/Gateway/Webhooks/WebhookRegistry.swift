import Crypto
import EventStore
import Foundation
import PostgresNIO

/// A subscription as the API shows it (never its secret).
public struct Webhook: Sendable, Hashable, Codable {
    public var id: UUID
    public var url: String
    public var events: [String]
    public var createdAt: Date
    public var createdBy: String
    /// The first characters of the current secret's SHA-256, to tell secrets apart.
    public var secretHint: String
}

/// One delivery attempt, as `GET /v1/webhooks/ID` lists them.
public struct WebhookDelivery: Sendable, Hashable, Codable {
    public var position: Int64
    public var eventType: String
    public var attempt: Int
    /// The receiver's HTTP status; nil when it could not be reached.
    public var status: Int?
    public var error: String?
    public var durationMs: Double
    public var at: Date

    public init(position: Int64, eventType: String, attempt: Int, status: Int?, error: String?, durationMs: Double, at: Date) {
        self.position = position
        self.eventType = eventType
        self.attempt = attempt
        self.status = status
        self.error = error
        self.durationMs = durationMs
        self.at = at
    }
}

public enum WebhookError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .notFound(let id): "no webhook \(id); list them with GET /v1/webhooks"
        case .invalid(let why): why
        }
    }
}

/// Webhook subscriptions: their events (streams `webhook-ID`), their secrets (`webhook_secrets`,
/// outside the log), their delivery positions (`projection_checkpoints`, `webhook:ID`) and recent
/// attempts (`webhook_deliveries`). The API and `streamd webhooks` share it.
public struct WebhookRegistry: Sendable {
    public let store: EventStore
    /// Where a subscription may point (`WebhookTarget`): checked when it is added, and again
    /// while it is delivered to.
    public let targets: WebhookTarget

    public init(store: EventStore, targets: WebhookTarget) {
        self.store = store
        self.targets = targets
    }

    static func stream(_ id: UUID) -> String { "webhook-\(id.uuidString.lowercased())" }
    public static func checkpoint(_ id: UUID) -> String { "webhook:\(id.uuidString.lowercased())" }
    static let types = [WebhookAdded.eventType, WebhookRemoved.eventType, WebhookSecretRotated.eventType]
    static let maximumEventTypes = 50

    /// Live subscriptions, oldest first.
    public func list() async throws -> [Webhook] {
        var hooks: [UUID: Webhook] = [:]
        var after: Int64 = 0
        while true {
            let page = try await store.read(after: after, limit: 1_000, filter: EventFilter(streamPrefix: "webhook-", types: Self.types))
            guard let last = page.last else { break }
            after = last.position
            for event in page { Self.apply(event, registry: store.registry, to: &hooks) }
        }
        return hooks.values.sorted { ($0.createdAt, $0.id.uuidString) < ($1.createdAt, $1.id.uuidString) }
    }

    public func webhook(_ id: UUID) async throws -> Webhook? {
        var hooks: [UUID: Webhook] = [:]
        for event in try await store.readStream(Self.stream(id)) { Self.apply(event, registry: store.registry, to: &hooks) }
        return hooks[id]
    }

    static func apply(_ event: RecordedEvent, registry: EventRegistry, to hooks: inout [UUID: Webhook]) {
        switch try? registry.decode(event) {
        case let added as WebhookAdded:
            hooks[added.webhookId] = Webhook(
                id: added.webhookId, url: added.url, events: added.events, createdAt: event.recordedAt,
                createdBy: event.metadata.actor.description, secretHint: added.secretHint)
        case let removed as WebhookRemoved:
            hooks[removed.webhookId] = nil
        case let rotated as WebhookSecretRotated:
            hooks[rotated.webhookId]?.secretHint = rotated.secretHint
        default:
            break
        }
    }

    /// Subscribes `url` to `events` from the log's head on; returns it with its secret (shown once).
    public func add(url: String, events: [String], metadata: EventMetadata) async throws -> (Webhook, secret: String) {
        try await targets.check(url)
        let types = Array(Set(events)).sorted()
        guard !types.isEmpty, types.count <= Self.maximumEventTypes else {
            throw WebhookError.invalid("give 1 to \(Self.maximumEventTypes) event types in \"events\" (StreamStarted, StreamEnded, …)")
        }
        for type in types where !store.registry.isRegistered(type) {
            throw WebhookError.invalid("\(type) is not an event type of this build; see docs/api.md#webhooks for the list")
        }
        let id = UUID()
        let secret = Self.makeSecret()
        let head = try await store.headPosition()
        try await store.readModels.query(
            "INSERT INTO webhook_secrets (webhook_id, secret) VALUES (\(id), \(secret))")
        try await store.readModels.query(
            "INSERT INTO projection_checkpoints (name, position) VALUES (\(Self.checkpoint(id)), \(head)) ON CONFLICT (name) DO NOTHING")
        let added = WebhookAdded(webhookId: id, url: url, events: types, secretHint: Self.hint(secret))
        let result = try await store.append(added, to: Self.stream(id), expectedVersion: .noStream, metadata: metadata)
        let recorded = try await store.read(after: result.lastPosition - 1, limit: 1).first
        let hook = Webhook(
            id: id, url: url, events: types, createdAt: recorded?.recordedAt ?? Date(), createdBy: metadata.actor.description,
            secretHint: added.secretHint)
        return (hook, secret)
    }

    public func remove(_ id: UUID, metadata: EventMetadata) async throws {
        guard try await webhook(id) != nil else { throw WebhookError.notFound(id.uuidString.lowercased()) }
        _ = try await store.append(WebhookRemoved(webhookId: id), to: Self.stream(id), metadata: metadata)
        // A removed subscription no longer holds back `events archive`.
        try await store.readModels.query("DELETE FROM projection_checkpoints WHERE name = \(Self.checkpoint(id))")
    }

    /// A new secret; deliveries are signed with it from the next one on.
    public func rotateSecret(_ id: UUID, metadata: EventMetadata) async throws -> String {
        guard try await webhook(id) != nil else { throw WebhookError.notFound(id.uuidString.lowercased()) }
        let secret = Self.makeSecret()
        try await store.readModels.query("INSERT INTO webhook_secrets (webhook_id, secret) VALUES (\(id), \(secret))")
        _ = try await store.append(
            WebhookSecretRotated(webhookId: id, secretHint: Self.hint(secret)), to: Self.stream(id), metadata: metadata)
        return secret
    }

    /// The newest secret of `id`.
    public func secret(of id: UUID) async throws -> String? {
        let rows = try await store.readModels.query(
            "SELECT secret FROM webhook_secrets WHERE webhook_id = \(id) ORDER BY created_at DESC LIMIT 1")
        for try await secret in rows.decode(String.self) { return secret }
        return nil
    }

    public func deliveries(of id: UUID, limit: Int = 50) async throws -> [WebhookDelivery] {
        let rows = try await store.readModels.query(
            """
            SELECT position, event_type, attempt, status, error, duration_ms, at FROM webhook_deliveries
            WHERE webhook_id = \(id) ORDER BY id DESC LIMIT \(Int64(limit))
            """)
        var found: [WebhookDelivery] = []
        for try await (position, type, attempt, status, error, duration, at) in rows.decode(
            (Int64, String, Int32, Int32?, String?, Double, Date).self)
        {
            found.append(
                WebhookDelivery(
                    position: position, eventType: type, attempt: Int(attempt), status: status.map(Int.init), error: error,
                    durationMs: duration, at: at))
        }
        return found
    }

    /// Records attempts of `id` (in one statement), and keeps its last 200 when `prune`.
    public func record(_ deliveries: [WebhookDelivery], of id: UUID, prune: Bool) async throws {
        guard !deliveries.isEmpty else { return }
        try await store.readModels.query(
            """
            INSERT INTO webhook_deliveries (webhook_id, position, event_type, attempt, status, error, duration_ms, at)
            SELECT \(id), p, t, a, NULLIF(s, -1), NULLIF(e, ''), d, w
            FROM unnest(\(deliveries.map(\.position))::bigint[], \(deliveries.map(\.eventType))::text[],
                \(deliveries.map { Int32($0.attempt) })::integer[], \(deliveries.map { $0.status.map(Int32.init) ?? -1 })::integer[],
                \(deliveries.map { $0.error ?? "" })::text[], \(deliveries.map(\.durationMs))::double precision[],
                \(deliveries.map(\.at))::timestamptz[]) AS u(p, t, a, s, e, d, w)
            """)
        guard prune else { return }
        try await store.readModels.query(
            """
            DELETE FROM webhook_deliveries WHERE webhook_id = \(id)
              AND id < (SELECT min(id) FROM (SELECT id FROM webhook_deliveries WHERE webhook_id = \(id) ORDER BY id DESC LIMIT 200) kept)
            """)
    }

    /// Standard Webhooks' secret form: `whsec_` and 32 random bytes in base64.
    static func makeSecret() -> String {
        "whsec_" + Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64EncodedString()
    }

    static func hint(_ secret: String) -> String {
        String(SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined().prefix(8))
    }
}
