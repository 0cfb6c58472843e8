import ArgumentParser
import Foundation
import Node

extension EventsCommand {
    struct Timeline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tell a session's story from the log: publish, refusals, quality, renditions, reconnects, kicks, moderation, end.",
            discussion: """
                Each line cites the event's #position (`streamd events show N` prints it whole). With --channel: the \
                channel's latest session, or with --since every session it started since then.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The session id (a UUID).") var session: String?
        @Option(help: "A channel's name instead of a session id.") var channel: String?
        @Option(help: "Only from this ISO 8601 time on (with --channel: every session started since then).") var since: String?
        @Flag(help: "Print each session's timeline as one JSON object per line.") var json = false

        func validate() throws {
            guard (session == nil) != (channel == nil) else {
                throw ValidationError("give a session id or --channel NAME (one of them)")
            }
            if let session, UUID(uuidString: session) == nil {
                throw ValidationError("\(session) is not a session id (a UUID); or give --channel NAME")
            }
            if let since, EventCoding.parseDate(since) == nil {
                throw ValidationError("--since must be an ISO 8601 time such as 2026-11-22T10:00:00Z")
            }
        }

        func run() async throws {
            let since = since.flatMap(EventCoding.parseDate)
            let timelines = try await withDatabase(database) { store -> [SessionTimeline] in
                let history = SessionHistory(store: store)
                do {
                    let spans: [SessionHistory.Span]
                    if let session {
                        guard let span = try await history.span(session: session) else {
                            throw SessionHistory.Failure.noSuchSession(session)
                        }
                        spans = [span]
                    } else {
                        spans = try await history.sessions(channel: channel ?? "", since: since)
                    }
                    var timelines: [SessionTimeline] = []
                    for span in spans {
                        let events = try await history.storyEvents(span)
                        // Every session since T is told whole; one session's story from T on.
                        let reasons = try await ModerationReasons.open(events, store: store)
                        timelines.append(
                            SessionTimeline.make(
                                span, events: events, registry: store.registry, reasons: reasons, since: session == nil ? nil : since))
                    }
                    return timelines
                } catch let failure as SessionHistory.Failure {
                    throw CommandFailure(failure.description)
                }
            }
            for timeline in timelines {
                if json {
                    print((try? EventCoding.encodeString(timeline)) ?? "{}")
                } else {
                    print(timeline.render())
                }
            }
        }
    }
}
