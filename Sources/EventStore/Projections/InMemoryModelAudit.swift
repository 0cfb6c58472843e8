import Foundation

/// A read model a node keeps in memory (chat rooms, the playback directory), as its canonical
/// value (`ReadModelHash`), the value's hash and the log position it reflects: what a node holds
/// now (`live`), or what the log gives as of a position (`InMemoryModelAudit.rebuild`).
public struct AuditedValue: Sendable, Hashable, Codable {
    public var model: String
    /// Every event up to here is in the value, none after.
    public var position: Int64
    /// The keys the value covers when not the whole model (the rooms a node has loaded); nil: all.
    public var scope: [String]?
    /// The clock time-dependent parts are read at (a time-out in force), when the model has any.
    public var time: Date?
    /// SHA-256 (hex) of `value`'s canonical bytes.
    public var hash: String
    public var value: JSONValue?

    /// Hashes `canonical` (`ReadModelHash.canonical` of the model's value).
    public init(model: String, position: Int64, scope: [String]?, time: Date?, canonical: Data) throws {
        self.model = model
        self.position = position
        self.scope = scope
        self.time = time
        self.hash = ReadModelHash.hex(canonical)
        self.value = try JSONDecoder().decode(JSONValue.self, from: canonical)
    }

    /// Paths where two values differ (`rooms[2].recent[10].text`), at most `limit`.
    public static func differences(_ a: JSONValue?, _ b: JSONValue?, path: String = "", limit: Int = 10) -> [String] {
        var found: [String] = []
        walk(a, b, path.isEmpty ? "$" : path, &found, limit)
        return found
    }

    private static func walk(_ a: JSONValue?, _ b: JSONValue?, _ path: String, _ found: inout [String], _ limit: Int) {
        guard found.count < limit, a != b else { return }
        switch (a, b) {
        case (.object(let x)?, .object(let y)?):
            for key in Set(x.keys).union(y.keys).sorted() { walk(x[key], y[key], "\(path).\(key)", &found, limit) }
        case (.array(let x)?, .array(let y)?):
            if x.count != y.count { found.append("\(path): \(x.count) entries live, \(y.count) rebuilt") }
            for index in 0..<min(x.count, y.count) { walk(x[index], y[index], "\(path)[\(index)]", &found, limit) }
        default:
            found.append("\(path): live \(describe(a)), rebuilt \(describe(b))")
        }
    }

    private static func describe(_ value: JSONValue?) -> String {
        guard let value, let data = try? ReadModelHash.canonical(value) else { return "absent" }
        let text = String(decoding: data, as: UTF8.self)
        return text.count > 120 ? String(text.prefix(117)) + "..." : text
    }
}

/// How an in-memory read model is rebuilt from the log (`streamd events replay --projection P`,
/// `GET /v1/audit/projections/P`); the live value comes from the node that holds it.
public struct InMemoryModelAudit: Sendable {
    public typealias Rebuild =
        @Sendable (_ store: EventStore, _ asOf: Int64, _ scope: [String]?, _ time: Date?) async throws -> AuditedValue

    public let name: String
    public let summary: String
    public let rebuild: Rebuild

    public init(name: String, summary: String, rebuild: @escaping Rebuild) {
        self.name = name
        self.summary = summary
        self.rebuild = rebuild
    }

    /// Feeds `body` every event passing `filter` up to `position`, in log order. Events up to a
    /// position at or below the head never change, so no snapshot is needed.
    public static func fold(
        _ store: EventStore, upTo position: Int64, filter: EventFilter, _ body: (RecordedEvent) async throws -> Void
    ) async throws {
        let head = try await store.headPosition()
        guard position <= head else { throw ProjectionReplay.ReplayError.pastHead(position, head: head) }
        var after: Int64 = 0
        while after < position {
            let page = try await store.read(after: after, limit: 1_000, filter: filter)
            guard let last = page.last else { break }
            for event in page where event.position <= position { try await body(event) }
            after = last.position
        }
    }

    /// The recorded time of the event at `position` (nil for 0 or a position not in the log).
    public static func recordedTime(_ store: EventStore, at position: Int64) async throws -> Date? {
        guard position > 0 else { return nil }
        return try await store.read(after: position - 1, limit: 1).first { $0.position == position }?.recordedAt
    }
}
