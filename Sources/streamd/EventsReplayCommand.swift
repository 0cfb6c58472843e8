import ArgumentParser
import Foundation
import Node

extension EventsCommand {
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a read model from the log as of a position; keep it in a schema, or compare it with the live one.",
            discussion: """
                SQL models: without --into, rebuilds into temporary tables and compares the live model with a rebuild at the live \
                model's own position (prints "identical" or the differing rows; exits 1 when they differ). --into SCHEMA keeps the \
                rebuild as of --as-of in that schema until --drop SCHEMA; add --diff to compare as well. Everything is read in one \
                snapshot of the database.
                In-memory models (held by a running node): --as-of N prints the value rebuilt from the log and its hash; --live FILE \
                (the JSON of GET /v1/audit/projections/P/live?value=true, or - for standard input) compares the node's value with a \
                rebuild at its position.
                Models: \(Projections.names.joined(separator: ", ")).
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The read model to rebuild.") var projection: String?
        @Option(
            name: [.customLong("as-of"), .customLong("until")],
            help: "Rebuild as of this log position (default: the live model's position). --until is the same.")
        var asOf: Int64?
        @Option(help: ArgumentHelp("Keep the rebuild in this schema (SQL models), until --drop.", valueName: "schema")) var into: String?
        @Flag(help: "Also compare with the live model (always on without --into for SQL models).") var diff = false
        @Option(help: ArgumentHelp("Drop a schema made by --into, and exit.", valueName: "schema")) var drop: String?
        @Flag(help: "List the schemas made by --into, and exit.") var list = false
        @Option(
            help: ArgumentHelp(
                "An in-memory model's live value (JSON from /v1/audit/projections/P/live), or - for stdin.", valueName: "file"))
        var live: String?
        @Option(help: ArgumentHelp("In-memory models: only these keys (chat rooms), comma-separated.", valueName: "keys")) var scope:
            String?

        func validate() throws {
            if drop != nil || list { return }
            guard let projection else { throw ValidationError("give --projection (one of \(Projections.names.joined(separator: ", ")))") }
            if Projections.named(projection) != nil {
                if live != nil { throw ValidationError("--live is for in-memory models; \(projection) is kept in PostgreSQL") }
                return
            }
            guard Projections.memoryModel(named: projection) != nil else {
                throw ValidationError("unknown projection \"\(projection)\"; known: \(Projections.names.joined(separator: ", "))")
            }
            if into != nil {
                throw ValidationError("\(projection) is kept in memory and has no tables; without --into the rebuild is printed as JSON")
            }
            if diff && live == nil {
                throw ValidationError(
                    "\(projection) is kept in memory by a running node: fetch its value (GET /v1/audit/projections/\(projection)/live?value=true with the admin token) and give it as --live FILE"
                )
            }
            if live != nil && scope != nil {
                throw ValidationError("--scope is for a rebuild alone; with --live the node's value says what it covers")
            }
            if live == nil && asOf == nil { throw ValidationError("give --as-of N (or --live FILE to compare with a node's value)") }
        }

        func run() async throws {
            if let drop {
                try await withDatabase(database) { store in try await ProjectionReplay.drop(schema: drop, store: store) }
                print("dropped schema \(drop)")
                return
            }
            if list {
                let schemas = try await withDatabase(database) { store in try await ProjectionReplay.schemas(store: store) }
                for entry in schemas { print("\(entry.schema)\t\(entry.projection)\tas of \(entry.asOf)\t\(entry.hash)") }
                return
            }
            guard let name = projection else { return }
            if let sql = Projections.named(name) {
                try await runSQL(sql)
            } else if let model = Projections.memoryModel(named: name) {
                try await runMemory(model)
            }
        }

        private func runSQL(_ projection: any SQLProjection) async throws {
            let (report, audit) = try await withDatabase(database) { store in
                let report: ProjectionReplay.Report
                do {
                    report = try await ProjectionReplay(store: store, projection: projection).run(
                        asOf: asOf, into: into, diff: diff || into == nil)
                } catch let error as ProjectionReplay.ReplayError {
                    throw CommandFailure(error.description)
                }
                // The quality machine's transitions are events too: recompute them and compare.
                var audit: QualityAudit.Report?
                if projection.name == "quality", report.comparison != nil {
                    audit = try await QualityAudit(store: store).run(until: report.liveCheckpoint)
                }
                return (report, audit)
            }
            print(report)
            if let audit { print(audit) }
            if !report.isIdentical || audit?.isIdentical == false { throw ExitCode(1) }
        }

        private func runMemory(_ model: InMemoryModelAudit) async throws {
            let keys = scope.map { $0.split(separator: ",").map(String.init) }
            guard let live else {
                let value = try await withDatabase(database) { store in
                    try await rebuilding { try await model.rebuild(store, asOf ?? 0, keys, nil) }
                }
                print("\(model.name) as of position \(value.position): hash \(value.hash)")
                if let json = value.value, let data = try? ReadModelHash.canonical(json) { print(String(decoding: data, as: UTF8.self)) }
                return
            }
            let nodeValue = try Self.readLive(live, model: model.name)
            let rebuilt = try await withDatabase(database) { store in
                try await rebuilding { try await model.rebuild(store, nodeValue.position, nodeValue.scope, nodeValue.time) }
            }
            if let asOf, asOf != nodeValue.position {
                print(
                    "the node's value is at position \(nodeValue.position), not \(asOf): compared it with a rebuild as of \(nodeValue.position)"
                )
            }
            print(
                "\(model.name): node's value at position \(nodeValue.position): hash \(nodeValue.hash); rebuild as of \(nodeValue.position): hash \(rebuilt.hash)"
            )
            if nodeValue.hash == rebuilt.hash {
                print("identical")
                return
            }
            guard nodeValue.value != nil else {
                print("different (the live file has no value; fetch it with ?value=true to see where)")
                throw ExitCode(1)
            }
            for difference in AuditedValue.differences(nodeValue.value, rebuilt.value) { print("  \(difference)") }
            throw ExitCode(1)
        }

        private func rebuilding(_ body: () async throws -> AuditedValue) async throws -> AuditedValue {
            do {
                return try await body()
            } catch let error as ProjectionReplay.ReplayError {
                throw CommandFailure(error.description)
            }
        }

        static func readLive(_ path: String, model: String) throws -> AuditedValue {
            let data: Data
            do {
                data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw CommandFailure("cannot read \(path): \(error.localizedDescription)")
            }
            guard let value = try? EventCoding.decoder().decode(AuditedValue.self, from: data) else {
                throw CommandFailure(
                    "\(path) is not a read model's live value; save the answer of GET /v1/audit/projections/\(model)/live?value=true")
            }
            guard value.model == model else { throw CommandFailure("\(path) holds the value of \(value.model), not \(model)") }
            return value
        }
    }
}
