import ArgumentParser
import Foundation
import Node

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Read, verify and replay the event log (works without a running server).",
        subcommands: [List.self, Verify.self, Replay.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List events: position, time, stream, type, actor, data.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only streams starting with this prefix (channel-demo, chat-, session-).") var stream: String?
        @Option(help: "Only this event type (repeatable).") var type: [String] = []
        @Option(help: "Only events after this position.") var after: Int64 = 0
        @Option(help: "Only events recorded at or after this ISO 8601 time.") var since: String?
        @Option(help: "At most this many events.") var limit: Int = 1_000
        @Flag(help: "Print one JSON object per line with the whole envelope.") var json = false

        func validate() throws {
            if let since, EventCoding.parseDate(since) == nil {
                throw ValidationError("--since must be an ISO 8601 time such as 2026-11-22T10:00:00Z")
            }
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() async throws {
            try await withDatabase(database) { store in
                let filter = EventFilter(
                    streamPrefix: stream, types: type.isEmpty ? nil : type, since: since.flatMap(EventCoding.parseDate))
                var position = after
                var remaining = limit
                while remaining > 0 {
                    let page = try await store.read(after: position, limit: Swift.min(remaining, 1_000), filter: filter)
                    if page.isEmpty { break }
                    for event in page {
                        if json {
                            print(Self.jsonLine(event))
                        } else {
                            var data = event.dataText
                            if data.count > 100 { data = String(data.prefix(97)) + "..." }
                            print(
                                "\(event.position)\t\(EventCoding.formatDate(event.recordedAt))\t\(event.streamId)\t\(event.eventType)\t\(event.metadata.actor)\t\(data)"
                            )
                        }
                    }
                    remaining -= page.count
                    position = page[page.count - 1].position
                }
            }
        }

        static func jsonLine(_ event: RecordedEvent) -> String {
            (try? EventCoding.encodeString(RecordedEventView(event))) ?? "{}"
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the log's hash chain; report the first edited, deleted or reordered event.",
            discussion: "Exits 0 with \"N events verified\", or 1 naming the first broken position.")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let outcome = try await withDatabase(database) { store in try await HashChainVerifier(store: store).verify() }
            print(outcome)
            if case .broken = outcome { throw ExitCode(1) }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild a read model from the log into a scratch schema and compare it with the live one.",
            discussion:
                "Prints \"identical\" or the differing rows; exits 1 when they differ. Projections: \(Projections.names.joined(separator: ", "))."
        )
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The projection to rebuild.") var projection: String
        @Option(help: "Rebuild as of this position (default: the live model's checkpoint).") var until: Int64?

        func validate() throws {
            guard Projections.named(projection) != nil else {
                throw ValidationError("unknown projection \"\(projection)\"; known: \(Projections.names.joined(separator: ", "))")
            }
        }

        func run() async throws {
            guard let projection = Projections.named(projection) else { return }
            let (report, audit) = try await withDatabase(database) { store in
                let report = try await ProjectionReplay(store: store, projection: projection).run(until: until)
                // The quality machine's transitions are events too: recompute them and compare.
                var audit: QualityAudit.Report?
                if projection.name == "quality" { audit = try await QualityAudit(store: store).run(until: report.replayedUntil) }
                return (report, audit)
            }
            print(report)
            if let audit { print(audit) }
            if !report.isIdentical || audit?.isIdentical == false { throw ExitCode(1) }
        }
    }
}
