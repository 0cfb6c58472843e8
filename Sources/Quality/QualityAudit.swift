import EventStore
import Foundation
import Ingest
import Transcode

/// Recomputes every session's transitions from the log's samples, through the same `QualityFold`
/// as the projection, and compares them with the `QualityChanged` events the live projection
/// appended (`streamd events replay --projection quality`): the machine is a pure function of the
/// log, so they must be equal.
public struct QualityAudit: Sendable {
    public struct Report: Sendable, Hashable, CustomStringConvertible {
        public var until: Int64
        public var recomputed: Int
        public var logged: Int
        /// Transitions recomputed but not in the log.
        public var missing: [String]
        /// `QualityChanged` in the log that no recomputation explains, or that differ from it.
        public var unexpected: [String]

        public var isIdentical: Bool { missing.isEmpty && unexpected.isEmpty }

        public var description: String {
            var lines = [
                "quality transitions up to position \(until): \(recomputed) recomputed from the samples, \(logged) QualityChanged in the log"
            ]
            if isIdentical {
                lines.append("identical")
            } else {
                lines += missing.prefix(10).map { "  missing from the log: \($0)" }
                lines += unexpected.prefix(10).map { "  not recomputed:       \($0)" }
                lines.append("\(missing.count) missing, \(unexpected.count) unexplained")
            }
            return lines.joined(separator: "\n")
        }
    }

    let store: EventStore

    public init(store: EventStore) {
        self.store = store
    }

    /// `until` defaults to the projection's checkpoint: every sample up to it has been applied, so
    /// its transitions must be in the log.
    public func run(until: Int64? = nil) async throws -> Report {
        let limit: Int64
        if let until { limit = until } else { limit = try await ProjectionRunner.checkpoint("quality", store: store) }
        let registry = store.registry
        var fold = QualityFold()
        var expected: [UUID: QualityChanged] = [:]
        var causes: [UUID: Int64] = [:]
        var logged: [(id: UUID, event: QualityChanged, cause: UUID?)] = []

        let filter = EventFilter(types: QualityProjection.inputTypes + [QualityChanged.eventType])
        var position: Int64 = 0
        while true {
            let page = try await store.read(after: position, limit: 1_000, filter: filter)
            guard let last = page.last else { break }
            position = last.position
            for event in page {
                if event.eventType == QualityChanged.eventType {
                    logged.append((event.eventId, try registry.decode(event, as: QualityChanged.self), event.metadata.causationId))
                    continue
                }
                causes[event.eventId] = event.position
                guard event.position <= limit, let input = try QualityInput(event, registry: registry) else { continue }
                if case .updated(let session, let transitions) = fold.apply(input), !transitions.isEmpty {
                    for new in try QualityProjection.events(for: transitions, of: session, cause: event) {
                        expected[new.eventId] = try EventCoding.decoder().decode(QualityChanged.self, from: Data(new.data.utf8))
                    }
                }
            }
        }

        var missing: [String] = []
        var unexpected: [String] = []
        var loggedIDs: Set<UUID> = []
        var inScope = 0
        for (id, event, cause) in logged {
            loggedIDs.insert(id)
            if let want = expected[id] {
                inScope += 1
                if !Self.same(want, event) {
                    unexpected.append("\(id) \(Self.describe(event)) differs from the recomputed \(Self.describe(want))")
                }
            } else if let cause, let at = causes[cause], at > limit {
                continue  // caused after `until`: not in scope
            } else {
                inScope += 1
                unexpected.append("\(id) \(Self.describe(event))")
            }
        }
        for (id, want) in expected where !loggedIDs.contains(id) {
            missing.append("\(id) \(Self.describe(want))")
        }
        return Report(until: limit, recomputed: expected.count, logged: inScope, missing: missing.sorted(), unexpected: unexpected.sorted())
    }

    /// Everything but the wording and the millisecond-rounded time.
    static func same(_ a: QualityChanged, _ b: QualityChanged) -> Bool {
        a.sessionID == b.sessionID && a.channelID == b.channelID && a.from == b.from && a.to == b.to
            && a.probing == b.probing && a.reason == b.reason && a.figures == b.figures
    }

    static func describe(_ event: QualityChanged) -> String {
        "session \(event.sessionID) \(event.from)→\(event.to) (\(event.reason.rawValue))"
    }
}
