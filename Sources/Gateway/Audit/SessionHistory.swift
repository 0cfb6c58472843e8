import Channels
import Chat
import EventStore
import Foundation
import Ingest
import Packager
import Transcode

/// A session's events read from the log itself, not from a read model: its own stream
/// (`session-ID`), and what its channel's stream (`channel-NAME`: refusals, key revocations and
/// rotations) and its chat room (`chat-NAME`: moderation) recorded between its start and its end.
/// What `streamd events timeline` tells and `GET /v1/sessions/ID/report` sums up.
public struct SessionHistory: Sendable {
    public let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    /// Where a session lies in the log: from its `StreamStarted` to its `StreamEnded` (none while live).
    public struct Span: Sendable, Hashable {
        public var sessionID: String
        public var channelID: String
        public var channelName: String
        public var started: RecordedEvent
        public var ended: RecordedEvent?

        public var stream: String { "session-\(sessionID)" }
        public var channelStream: String { "channel-\(channelName)" }
        public var chatStream: String { ChatStream.room(channelName) }
    }

    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case notASessionID(String)
        case noSuchSession(String)
        case noSessions(channel: String, since: Date?)

        public var description: String {
            switch self {
            case .notASessionID(let text):
                "\(text) is not a session id (a UUID); find one with `streamd events list --type StreamStarted` or GET /v1/dashboard/sessions"
            case .noSuchSession(let id):
                "no session \(id) in the log; find one with `streamd events list --type StreamStarted` or GET /v1/dashboard/sessions"
            case .noSessions(let channel, let since):
                "channel \(channel) has no session in the log"
                    + (since.map { " since \(EventCoding.formatDate($0))" } ?? "")
                    + "; check the name with `streamd channels list`"
            }
        }
    }

    /// Session stream events a story leaves out: there are hundreds an hour, and the report sums them.
    public static let routineTypes: Set<String> = [
        IngestStatsSampled.eventType, SegmentPublished.eventType, AudienceSampled.eventType,
    ]
    /// The chat room's events a session's story tells: moderation, not the messages themselves.
    public static let moderationTypes = DashboardProjection.moderationTypes

    /// The session `id` (a UUID, any case), or nil when the log has no such session.
    public func span(session id: String) async throws -> Span? {
        guard let uuid = UUID(uuidString: id) else { throw Failure.notASessionID(id) }
        let sessionID = uuid.uuidString.lowercased()
        let stream = "session-\(sessionID)"
        let first = try await store.read(after: 0, limit: 1, filter: EventFilter(stream: stream, types: [StreamStarted.eventType]))
        guard let started = first.first else { return nil }
        let start = try store.registry.decode(started, as: StreamStarted.self)
        let ended = try await store.read(before: .max, limit: 1, filter: EventFilter(stream: stream, types: [StreamEnded.eventType])).first
        return Span(sessionID: sessionID, channelID: start.channelID, channelName: start.channelName, started: started, ended: ended)
    }

    /// The channel's latest session (nil `since`), or every session it started since `since`, oldest first.
    public func sessions(channel: String, since: Date? = nil) async throws -> [Span] {
        var ids: [String] = []
        let filter = EventFilter(types: [StreamStarted.eventType], since: since)
        if since == nil {
            var before = Int64.max
            search: while true {
                let page = try await store.read(before: before, limit: 500, filter: filter)
                for event in page {
                    let started = try store.registry.decode(event, as: StreamStarted.self)
                    guard started.channelName == channel else { continue }
                    ids.append(started.sessionID)
                    break search
                }
                guard page.count == 500, let last = page.last else { break }
                before = last.position
            }
        } else {
            var after: Int64 = 0
            while true {
                let page = try await store.read(after: after, limit: 500, filter: filter)
                for event in page {
                    let started = try store.registry.decode(event, as: StreamStarted.self)
                    if started.channelName == channel { ids.append(started.sessionID) }
                }
                guard page.count == 500, let last = page.last else { break }
                after = last.position
            }
        }
        var spans: [Span] = []
        for id in ids {
            if let span = try await span(session: id) { spans.append(span) }
        }
        guard !spans.isEmpty else { throw Failure.noSessions(channel: channel, since: since) }
        return spans
    }

    /// The events of the session's story in log order: its own stream's but the routine ones, and
    /// its channel's and chat room's (moderation only) from its start to its end.
    public func storyEvents(_ span: Span) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        for try await page in store.streamPages(span.stream) {
            events.append(contentsOf: page.filter { !Self.routineTypes.contains($0.eventType) })
        }
        let last = span.ended?.position
        events += try await between(span, EventFilter(stream: span.channelStream, toPosition: last))
        events += try await between(span, EventFilter(stream: span.chatStream, types: Self.moderationTypes, toPosition: last))
        return events.sorted { $0.position < $1.position }
    }

    /// The events passing `filter` from the session's start on.
    func between(_ span: Span, _ filter: EventFilter) async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        var after = span.started.position - 1
        while true {
            let page = try await store.read(after: after, limit: 1_000, filter: filter)
            events += page
            guard page.count == 1_000, let last = page.last else { return events }
            after = last.position
        }
    }
}
