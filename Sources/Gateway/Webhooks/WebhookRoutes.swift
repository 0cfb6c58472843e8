import EventStore
import Foundation
import Hummingbird

/// `/v1/webhooks`: subscriptions to event types, delivered from the log (docs/api.md#webhooks).
struct WebhookRoutes: Sendable {
    let registry: WebhookRegistry

    struct AddRequest: Decodable {
        var url: String
        var events: [String]
    }

    struct Added: Encodable {
        var webhook: Webhook
        var secret: String

        enum CodingKeys: String, CodingKey { case secret }

        func encode(to encoder: any Encoder) throws {
            try webhook.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(secret, forKey: .secret)
        }
    }

    struct Detail: Encodable {
        var webhook: Webhook
        var deliveries: [WebhookDelivery]
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        let registry = registry
        group.get("webhooks") { _, _ in
            JSONBody.response(["webhooks": try await registry.list()])
        }
        group.post("webhooks") { request, context in
            let body = try await JSONBody.decode(AddRequest.self, from: request, limit: 16_384)
            let (hook, secret) = try await Self.mapping {
                try await registry.add(url: body.url, events: body.events, metadata: context.eventMetadata())
            }
            return JSONBody.response(Added(webhook: hook, secret: secret), status: .created)
        }
        group.get("webhooks/:id") { _, context in
            let id = try Self.id(context)
            guard let hook = try await registry.webhook(id) else {
                throw APIError(.notFound, code: "not_found", WebhookError.notFound(id.uuidString.lowercased()).description)
            }
            return JSONBody.response(Detail(webhook: hook, deliveries: try await registry.deliveries(of: id)))
        }
        group.delete("webhooks/:id") { _, context in
            let id = try Self.id(context)
            try await Self.mapping { try await registry.remove(id, metadata: context.eventMetadata()) }
            return Response(status: .noContent)
        }
        group.post("webhooks/:id/secret") { _, context in
            let id = try Self.id(context)
            let secret = try await Self.mapping { try await registry.rotateSecret(id, metadata: context.eventMetadata()) }
            return JSONBody.response(["secret": secret])
        }
    }

    static func id(_ context: GatewayRequestContext) throws -> UUID {
        let text = try context.parameters.require("id")
        guard let id = UUID(uuidString: text) else {
            throw APIError(.badRequest, code: "invalid_id", "\(text) is not a webhook id; list them with GET /v1/webhooks")
        }
        return id
    }

    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as WebhookError {
            switch error {
            case .notFound: throw APIError(.notFound, code: "not_found", error.description)
            case .invalid: throw APIError(.badRequest, code: "invalid_webhook", error.description)
            }
        }
    }
}
