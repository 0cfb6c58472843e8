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
            let events = try await store.read(after: after, limit: Int(limit), filter: filter)
            let views = events.map(RecordedEventView.init)
            return JSONBody.response(Page(events: views, next: events.last?.position ?? after))
        }
    }
}
