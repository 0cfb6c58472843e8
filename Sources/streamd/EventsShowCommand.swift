import ArgumentParser
import Foundation
import Node

extension EventsCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print one event whole: its envelope, data and metadata.",
            discussion: "Exits 1 when the log does not reach the position.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The event's position in the log.") var position: Int64
        @Flag(help: "Print the whole envelope as one JSON object.") var json = false

        func validate() throws {
            guard position > 0 else { throw ValidationError("the position must be 1 or more (the log's first event is 1)") }
        }

        func run() async throws {
            let event = try await withDatabase(database) { store in try await store.event(at: position) }
            guard let event else {
                throw CommandFailure("the log has no event at position \(position); `streamd events list` shows what it holds")
            }
            print(json ? EventsCommand.List.jsonLine(event) : Self.render(event))
        }

        /// The envelope's fields one a line, then the data and the metadata as indented JSON.
        static func render(_ event: RecordedEvent) -> String {
            let view = RecordedEventView(event)
            let metadata = event.metadata
            var lines = [
                "position      \(event.position)",
                "type          \(event.eventType) (schema \(event.schemaVersion))",
                "stream        \(event.streamId) (version \(event.streamVersion))",
                "event id      \(event.eventId.uuidString.lowercased())",
                "recorded at   \(EventCoding.formatDate(event.recordedAt))",
                "actor         \(metadata.actor)",
            ]
            if let reason = metadata.reason { lines.append("reason        \(reason)") }
            if let correlation = metadata.correlationId { lines.append("correlation   \(correlation.uuidString.lowercased())") }
            if let causation = metadata.causationId { lines.append("causation     \(causation.uuidString.lowercased())") }
            if let request = metadata.requestId { lines.append("request       \(request)") }
            if let spooled = metadata.spooledAt { lines.append("spooled at    \(EventCoding.formatDate(spooled))") }
            lines.append("hash          \(view.hash)")
            lines.append("data:")
            lines.append(pretty(view.data))
            lines.append("metadata:")
            lines.append(pretty(metadata))
            return lines.joined(separator: "\n")
        }

        static func pretty<T: Encodable>(_ value: T) -> String {
            let encoder = EventCoding.encoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        }
    }
}
