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
            var parameters: [String: String] = [:]
            for name in ["stream", "streamPrefix", "type", "since", "until", "to", "actor", "correlation"] {
                if let value = query[Substring(name)] { parameters[name] = String(value) }
            }
            let filter: EventFilter
            do {
                filter = try EventFilter.parse(parameters)
            } catch let error as EventFilter.ParseError {
                throw APIError(.badRequest, code: "invalid_parameter", error.description)
            }
            let events = try await store.read(after: after, limit: Int(limit), filter: filter)
            let views = events.map(RecordedEventView.init)
            return JSONBody.response(Page(events: views, next: events.last?.position ?? after))
        }
    }
}
