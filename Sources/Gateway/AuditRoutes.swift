import EventStore
import Foundation
import Hummingbird

/// The read models an auditor can rebuild and compare (`streamd events replay`): the node's SQL
/// projections, and the models it keeps in memory with how to read their live value.
public struct AuditEndpoint: Sendable {
    public struct Memory: Sendable {
        public var model: InMemoryModelAudit
        /// The value this node holds now, with the position it reflects.
        public var live: @Sendable () async throws -> AuditedValue

        public init(model: InMemoryModelAudit, live: @escaping @Sendable () async throws -> AuditedValue) {
            self.model = model
            self.live = live
        }
    }

    public var sql: [any SQLProjection]
    public var memory: [Memory]

    public init(sql: [any SQLProjection], memory: [Memory]) {
        self.sql = sql
        self.memory = memory
    }
}

/// `GET /v1/audit/projections…`: each read model as of a log position, and its live hash.
struct AuditRoutes: Sendable {
    let store: EventStore
    let endpoint: AuditEndpoint

    struct Model: Encodable {
        var name: String
        var kind: String
        var tables: [String]?
    }

    struct SQLPage: Encodable {
        var model: ProjectionReplay.ModelState
        var table: String
        var offset: Int
        /// Rows as PostgreSQL's `row_to_json`, in the order the table's hash reads them.
        var rows: [JSONValue]
    }

    func register(on group: RouterGroup<GatewayRequestContext>) {
        group.get("audit/projections") { _, _ in
            let models =
                endpoint.sql.map { Model(name: $0.name, kind: "sql", tables: $0.tables) }
                + endpoint.memory.map { Model(name: $0.model.name, kind: "memory", tables: nil) }
            return JSONBody.response(["models": models])
        }
        group.get("audit/projections/:name/live") { request, context in
            let name = try context.parameters.require("name")
            if let projection = endpoint.sql.first(where: { $0.name == name }) {
                return JSONBody.response(try await ProjectionReplay(store: store, projection: projection).live())
            }
            guard let memory = endpoint.memory.first(where: { $0.model.name == name }) else { throw unknown(name) }
            var value = try await memory.live()
            if request.uri.queryParameters["value"] != "true" { value.value = nil }
            return JSONBody.response(value)
        }
        group.get("audit/projections/:name") { request, context in
            let name = try context.parameters.require("name")
            let query = request.uri.queryParameters
            func integer(_ key: String, default value: Int?, range: ClosedRange<Int64>) throws -> Int64? {
                guard let text = query[Substring(key)] else { return value.map(Int64.init) }
                guard let number = Int64(String(text)), range.contains(number) else {
                    throw APIError(
                        .badRequest, code: "invalid_parameter", "\(key) must be an integer in \(range.lowerBound)...\(range.upperBound)")
                }
                return number
            }
            let head = try await store.headPosition()
            guard let asOf = try integer("asOf", default: nil, range: 0...Int64.max) else {
                throw APIError(.badRequest, code: "invalid_parameter", "asOf is required: a log position (0...\(head))")
            }
            guard asOf <= head else {
                throw APIError(.badRequest, code: "invalid_parameter", "asOf \(asOf) is past the log's head (\(head))")
            }
            if let projection = endpoint.sql.first(where: { $0.name == name }) {
                let offset = Int(try integer("offset", default: 0, range: 0...Int64(Int32.max)) ?? 0)
                let limit = Int(try integer("limit", default: 100, range: 1...1_000) ?? 100)
                do {
                    let page = try await ProjectionReplay(store: store, projection: projection)
                        .page(asOf: asOf, table: query["table"].map(String.init), offset: offset, limit: limit)
                    let rows = try page.rows.map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
                    return JSONBody.response(SQLPage(model: page.state, table: page.table, offset: offset, rows: rows))
                } catch let error as ProjectionReplay.ReplayError {
                    throw APIError(.badRequest, code: "invalid_parameter", error.description)
                }
            }
            guard let memory = endpoint.memory.first(where: { $0.model.name == name }) else { throw unknown(name) }
            let scope = query["scope"].map { $0.split(separator: ",").map(String.init) }
            var time: Date?
            if let text = query["time"] {
                guard let date = EventCoding.parseDate(String(text)) else {
                    throw APIError(.badRequest, code: "invalid_parameter", "time must be an ISO 8601 time such as 2026-11-22T10:00:00Z")
                }
                time = date
            }
            return JSONBody.response(try await memory.model.rebuild(store, asOf, scope, time))
        }
    }

    private func unknown(_ name: String) -> APIError {
        let names = endpoint.sql.map(\.name) + endpoint.memory.map(\.model.name)
        return APIError(.notFound, code: "not_found", "no read model \"\(name)\"; known: \(names.joined(separator: ", "))")
    }
}
