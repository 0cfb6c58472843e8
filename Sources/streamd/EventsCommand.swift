import ArgumentParser
import Foundation
import Node

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Read, verify and replay the event log (works without a running server).",
        subcommands: [
            List.self, Show.self, Timeline.self, Trace.self, Verify.self, Replay.self, MakeCheckpoint.self, Prove.self,
            Consistency.self, Export.self, Archive.self, Key.self,
        ])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List events: position, time, stream, type, actor, data.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this stream, exactly (channel-demo, chat-demo, session-ID).") var stream: String?
        @Option(help: "Only streams starting with this prefix (channel-, chat-, session-).") var streamPrefix: String?
        @Option(help: "Only this event type (repeatable).") var type: [String] = []
        @Option(help: "Only events after this position.") var after: Int64 = 0
        @Option(help: "Only events up to and including this position.") var to: Int64?
        @Option(help: "Only events recorded at or after this ISO 8601 time.") var since: String?
        @Option(help: "Only events recorded before this ISO 8601 time.") var until: String?
        @Option(help: "Only events by this actor: a kind (admin, user, moderator, system, encoder), or kind:id.") var actor: String?
        @Option(help: "Only events with this correlation id.") var correlation: String?
        @Option(help: "At most this many events.") var limit: Int = 1_000
        @Flag(help: "Print one JSON object per line with the whole envelope.") var json = false

        func validate() throws { _ = try filter() }

        /// The options as a filter (the parsing `GET /v1/events` does); each mistake named with
        /// what to write instead.
        func filter() throws -> EventFilter {
            var parameters = [
                "stream": stream, "streamPrefix": streamPrefix, "type": type.joined(separator: ","), "since": since, "until": until,
                "actor": actor, "correlation": correlation,
            ].compactMapValues { $0 }
            if let to { parameters["to"] = String(to) }
            let filter: EventFilter
            do {
                filter = try EventFilter.parse(parameters)
            } catch let error as EventFilter.ParseError {
                let option = error.parameter == "streamPrefix" ? "stream-prefix" : error.parameter
                throw ValidationError("--\(option) \(error.problem)")
            }
            if let to, to < after { throw ValidationError("--to (\(to)) is before --after (\(after)): nothing to list") }
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
            return filter
        }

        func run() async throws {
            let filter = try filter()
            try await withDatabase(database) { store in
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
            discussion: """
                Exits 0 with "N events verified", or 1 naming the first broken position. With --checkpoint, checks the log \
                against signed checkpoints kept outside the database instead, and prints the tree size and root it verified.
                """)
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var checkpoints: CheckpointVerifyOptions

        func run() async throws {
            if !checkpoints.checkpoint.isEmpty { return try await checkpoints.run(database: database) }
            let outcome = try await withDatabase(database) { store in try await HashChainVerifier(store: store).verify() }
            print(outcome)
            if case .broken = outcome { throw ExitCode(1) }
        }
    }
}
