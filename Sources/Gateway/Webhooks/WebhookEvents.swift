import EventStore
import Foundation

/// A subscription: events of `events` types go to `url` (stream `webhook-ID`). The secret is not
/// in the log (`webhook_secrets`); `secretHint` names it.
public struct WebhookAdded: DomainEvent, Equatable {
    public static let eventType = "WebhookAdded"
    public var webhookId: UUID
    public var url: String
    public var events: [String]
    public var secretHint: String

    public init(webhookId: UUID, url: String, events: [String], secretHint: String) {
        self.webhookId = webhookId
        self.url = url
        self.events = events
        self.secretHint = secretHint
    }
}

public struct WebhookRemoved: DomainEvent, Equatable {
    public static let eventType = "WebhookRemoved"
    public var webhookId: UUID

    public init(webhookId: UUID) { self.webhookId = webhookId }
}

public struct WebhookSecretRotated: DomainEvent, Equatable {
    public static let eventType = "WebhookSecretRotated"
    public var webhookId: UUID
    public var secretHint: String

    public init(webhookId: UUID, secretHint: String) {
        self.webhookId = webhookId
        self.secretHint = secretHint
    }
}

/// The dead letter: event `position` could not be delivered after `attempts` tries.
public struct WebhookDeliveryFailed: DomainEvent, Equatable {
    public static let eventType = "WebhookDeliveryFailed"
    public var webhookId: UUID
    public var position: Int64
    public var eventType: String
    public var attempts: Int
    public var lastError: String

    public init(webhookId: UUID, position: Int64, eventType: String, attempts: Int, lastError: String) {
        self.webhookId = webhookId
        self.position = position
        self.eventType = eventType
        self.attempts = attempts
        self.lastError = lastError
    }
}

extension EventRegistry {
    public mutating func registerWebhookEvents() {
        register(WebhookAdded.self)
        register(WebhookRemoved.self)
        register(WebhookSecretRotated.self)
        register(WebhookDeliveryFailed.self)
    }
}
