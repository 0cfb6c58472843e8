import ArgumentParser
import Foundation
import Node

extension EventsCommand {
    struct Trace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Follow an event's correlation and causation ids both ways and print what they link as a tree.",
            discussion: """
                Shows the events sharing its correlation id, the chain of causes above it and everything they caused, each \
                under its cause with its #position; the traced event is marked with *.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The event's position in the log.") var position: Int64
        @Option(help: "At most this many events.") var limit: Int = 2_000

        func validate() throws {
            guard position > 0 else { throw ValidationError("the position must be 1 or more (the log's first event is 1)") }
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() async throws {
            let trace = try await withDatabase(database) { store in try await EventTrace.trace(position, in: store, limit: limit) }
            guard let trace else {
                throw CommandFailure("the log has no event at position \(position); `streamd events list` shows what it holds")
            }
            print(trace.render(), terminator: "")
        }
    }
}
