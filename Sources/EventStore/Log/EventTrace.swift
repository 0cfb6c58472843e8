import Foundation
import PostgresNIO

/// What an event belongs to, by its metadata (`streamd events trace POSITION`): the events that
/// share its correlation id, the chain of causes above it (each event's causation id is its
/// cause's event id), and everything caused by any of those, recursively; as a tree of causes.
public struct EventTrace: Sendable, Hashable {
    public struct Node: Sendable, Hashable {
        public var event: RecordedEvent
        /// Indentation: 0 for an event whose cause is not in the trace.
        public var depth: Int
        /// The cause's event id, when the trace does not hold it (not in the log, or past the limit).
        public var missingCause: UUID?
    }

    /// The traced event's position.
    public var position: Int64
    /// Depth-first: each event after its cause, siblings in log order.
    public var nodes: [Node]
    /// The trace stopped at `limit` events.
    public var truncated: Bool

    /// Traces the event at `position`; nil when the log does not reach it. At most `limit` events.
    public static func trace(_ position: Int64, in store: EventStore, limit: Int = 2_000) async throws -> EventTrace? {
        guard let origin = try await store.event(at: position) else { return nil }
        var found: [UUID: RecordedEvent] = [origin.eventId: origin]
        var truncated = false
        func add(_ events: [RecordedEvent]) -> [RecordedEvent] {
            var added: [RecordedEvent] = []
            for event in events where found[event.eventId] == nil {
                guard found.count < limit else {
                    truncated = true
                    break
                }
                found[event.eventId] = event
                added.append(event)
            }
            return added
        }
        // Causes upward: one lookup by event id per step.
        var cause = origin.metadata.causationId
        var seenCauses: Set<UUID> = []
        while let id = cause, found.count < limit, seenCauses.insert(id).inserted {
            if let known = found[id] {
                cause = known.metadata.causationId
                continue
            }
            guard let event = try await store.events(ids: [id]).first else { break }
            _ = add([event])
            cause = event.metadata.causationId
        }
        // Every correlation id met, and every effect, until nothing new turns up.
        var correlations: Set<UUID> = []
        var frontier = Array(found.values)
        while !frontier.isEmpty, !truncated {
            let newCorrelations = Set(frontier.compactMap(\.metadata.correlationId)).subtracting(correlations)
            correlations.formUnion(newCorrelations)
            var next: [RecordedEvent] = []
            for correlation in newCorrelations.sorted(by: { $0.uuidString < $1.uuidString }) {
                next += add(try await store.read(after: 0, limit: limit, filter: EventFilter(correlationId: correlation)))
            }
            next += add(try await store.events(causedBy: frontier.map(\.eventId), limit: limit))
            frontier = next
        }
        return EventTrace(position: position, nodes: tree(Array(found.values)), truncated: truncated)
    }

    /// The events as a forest of causes: roots (no cause among them) in log order, each followed
    /// by its effects, depth-first.
    static func tree(_ events: [RecordedEvent]) -> [Node] {
        let ids = Set(events.map(\.eventId))
        var children: [UUID: [RecordedEvent]] = [:]
        var roots: [RecordedEvent] = []
        for event in events.sorted(by: { $0.position < $1.position }) {
            if let cause = event.metadata.causationId, cause != event.eventId, ids.contains(cause) {
                children[cause, default: []].append(event)
            } else {
                roots.append(event)
            }
        }
        var nodes: [Node] = []
        var visited: Set<UUID> = []
        var stack = roots.reversed().map { ($0, 0) }
        while let next = stack.popLast() {
            let (event, depth) = next
            guard visited.insert(event.eventId).inserted else { continue }
            let missing = event.metadata.causationId.flatMap { ids.contains($0) ? nil : $0 }
            nodes.append(Node(event: event, depth: depth, missingCause: depth == 0 ? missing : nil))
            for child in (children[event.eventId] ?? []).reversed() { stack.append((child, depth + 1)) }
        }
        // A cycle of causes (only a rewritten log has one) has no root: list what is left flat.
        for event in events.sorted(by: { $0.position < $1.position }) where !visited.contains(event.eventId) {
            nodes.append(Node(event: event, depth: 0, missingCause: nil))
        }
        return nodes
    }

    /// One line per event, indented under its cause; the traced event marked with `*`.
    public func render() -> String {
        var text = ""
        for node in nodes {
            let event = node.event
            let mark = event.position == position ? "* " : "  "
            let indent = String(repeating: "  ", count: node.depth) + (node.depth > 0 ? "└ " : "")
            var line =
                "\(mark)\(indent)#\(event.position)  \(EventCoding.formatDate(event.recordedAt))  \(event.streamId)  \(event.eventType)"
                + "  by \(event.metadata.actor)"
            if let reason = event.metadata.reason { line += ": \(reason)" }
            if let correlation = event.metadata.correlationId { line += "  correlation \(correlation.uuidString.lowercased())" }
            if let missing = node.missingCause { line += "  (cause \(missing.uuidString.lowercased()) not in the log)" }
            text += line + "\n"
        }
        if truncated { text += "… stopped at \(nodes.count) events\n" }
        return text
    }
}

extension EventStore {
    /// The events with these ids.
    public func events(ids: [UUID]) async throws -> [RecordedEvent] {
        guard !ids.isEmpty else { return [] }
        let (logger, readers) = (logger, readers)
        return try await retryingConnection {
            try await readers.with { connection in
                let rows = try await connection.query(
                    "SELECT \(unescaped: Self.columns) FROM events WHERE event_id = ANY(\(ids)) ORDER BY position", logger: logger)
                return try await Self.decode(rows)
            }
        }
    }

    /// The events whose causation id is one of `ids`, in log order.
    public func events(causedBy ids: [UUID], limit: Int = 10_000) async throws -> [RecordedEvent] {
        guard !ids.isEmpty else { return [] }
        let texts = ids.map { $0.uuidString.uppercased() }
        let (logger, readers) = (logger, readers)
        return try await retryingConnection {
            try await readers.with { connection in
                let rows = try await connection.query(
                    """
                    SELECT \(unescaped: Self.columns) FROM events
                    WHERE upper(metadata->>'causationId') = ANY(\(texts)) AND metadata->>'causationId' IS NOT NULL
                    ORDER BY position LIMIT \(Swift.max(1, limit))
                    """, logger: logger)
                return try await Self.decode(rows)
            }
        }
    }
}
