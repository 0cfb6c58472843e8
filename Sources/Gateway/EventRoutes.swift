import EventStore
import Foundation
import Hummingbird

/// `GET /v1/events`: pages the log for auditors.
struct EventRoutes: Sendable {
    let store: EventStore

    struct Page: Encodable {
        var events: [RecordedEventView]
        /// Pass as `after` for the next page.
        var next: Int64
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("events") { request, _ in
            let query = request.uri.queryParameters
            func integer(_ name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64 {
                guard let text = query[Substring(name)] else { return value }
                guard let number = Int64(String(text)), range.contains(number) else {
                    throw APIError(
                        .badRequest, code: "invalid_parameter", "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
                }
                return number
            }
            let after = try integer("after", default: 0, range: 0...Int64.max)
            let limit = try integer("limit", default: 100, range: 1...1_000)
            var filter = EventFilter()
            filter.streamPrefix = query["stream"].map(String.init)
            if let type = query["type"] { filter.types = type.split(separator: ",").map(String.init) }
            if let since = query["since"] {
                guard let date = EventCoding.parseDate(String(since)) else {
                    throw APIError(.badRequest, code: "invalid_parameter", "since must be an ISO 8601 time such as 2026-11-22T10:00:00Z")
                }
                filter.since = date
            }
            if let until = query["until"] {
                guard let date = EventCoding.parseDate(String(until)) else {
                    throw APIError(.badRequest, code: "invalid_parameter", "until must be an ISO 8601 time such as 2026-11-22T11:00:00Z")
                }
                filter.until = date
            }
            if let actor = query["actor"], !actor.isEmpty {
                guard let kind = actor.split(separator: ":").first, EventActor.Kind(rawValue: String(kind)) != nil else {
                    throw APIError(
                        .badRequest, code: "invalid_parameter",
                        "actor must be a kind (user, moderator, admin, system, encoder), optionally with :id")
                }
                filter.actor = String(actor)
            }
            if let correlation = query["correlation"], !correlation.isEmpty {
                guard let id = UUID(uuidString: String(correlation)) else {
                    throw APIError(.badRequest, code: "invalid_parameter", "correlation must be a UUID")
                }
                filter.correlationId = id
            }
            let events = try await store.read(after: after, limit: Int(limit), filter: filter)
            let views = events.map(RecordedEventView.init)
            return JSONBody.response(Page(events: views, next: events.last?.position ?? after))
        }
    }
}
