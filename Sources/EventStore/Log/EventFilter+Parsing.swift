import Foundation

extension EventFilter {
    /// A filter parameter that does not parse: `parameter` and what it must be instead.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var parameter: String
        public var problem: String
        public var description: String { "\(parameter) \(problem)" }
    }

    /// The filter that `streamd events list` and `GET /v1/events` take as text, by the API's
    /// names: `stream` (exact), `streamPrefix`, `type` (comma-separated), `since` and `until` (ISO
    /// 8601 times), `to` (a position, inclusive), `actor` (`kind` or `kind:id`), `correlation`
    /// (a UUID). Empty values are ignored.
    public static func parse(_ parameters: [String: String]) throws -> EventFilter {
        var filter = EventFilter()
        func value(_ name: String) -> String? { parameters[name].flatMap { $0.isEmpty ? nil : $0 } }
        filter.stream = value("stream")
        filter.streamPrefix = value("streamPrefix")
        if let types = value("type") {
            filter.types = types.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let since = value("since") {
            guard let date = EventCoding.parseDate(since) else {
                throw ParseError(parameter: "since", problem: "must be an ISO 8601 time such as 2026-11-22T10:00:00Z")
            }
            filter.since = date
        }
        if let until = value("until") {
            guard let date = EventCoding.parseDate(until) else {
                throw ParseError(
                    parameter: "until", problem: "must be an ISO 8601 time such as 2026-11-22T11:00:00Z (for a position, use to)")
            }
            filter.until = date
        }
        if let to = value("to") {
            guard let position = Int64(to), position >= 0 else {
                throw ParseError(parameter: "to", problem: "must be a position (a whole number, 0 or more)")
            }
            filter.toPosition = position
        }
        if let actor = value("actor") {
            let kind = actor.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard EventActor.Kind(rawValue: kind) != nil, !actor.hasSuffix(":") else {
                throw ParseError(
                    parameter: "actor", problem: "must be a kind (user, moderator, admin, system, encoder), optionally with :id")
            }
            filter.actor = actor
        }
        if let correlation = value("correlation") {
            guard let id = UUID(uuidString: correlation) else {
                throw ParseError(parameter: "correlation", problem: "must be a UUID such as 0b7c5b0e-1c1a-4c8e-9a51-2f4a1f0f6d3e")
            }
            filter.correlationId = id
        }
        return filter
    }
}
