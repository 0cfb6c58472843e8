import EventStore
import Foundation
import Ingest
import Testing
import Transcode

@testable import Quality

/// The quality machine folds a window of intervals exactly as it folded one event per interval:
/// same transitions, same figures, same clock.
@Suite("Quality machine over statistics windows")
struct QualityWindowTests {
    /// A session that goes from healthy to starved to healthy again.
    static func intervals() -> [IngestStats] {
        var all: [IngestStats] = []
        for second in 0..<240 {
            var stats: IngestStats
            switch second {
            case 20..<70:
                stats = QualityInputsTests.rtmp(
                    bitrate: 1_800_000, fps: 24, dropped: second % 4 == 0 ? 2 : 0, lag: 1_000 + Int64(second) * 20)
            case 70..<90: stats = QualityInputsTests.rtmp(bitrate: 400_000, fps: 12, lag: 2_500)
            default: stats = QualityInputsTests.rtmp(bitrate: 6_100_000 + (second % 5) * 10_000)
            }
            stats.intervalSeconds = 1 + Double(second % 3) * 0.001
            all.append(stats)
        }
        return all
    }

    static func recorded<E: DomainEvent>(_ event: E, position: Int64, registry: EventRegistry) throws -> QualityInput? {
        let new = try NewEvent(event, metadata: EventMetadata(actor: .system("test")))
        let recorded = RecordedEvent(
            position: position, streamId: "session-s", streamVersion: position, eventId: new.eventId, eventType: new.eventType,
            schemaVersion: new.schemaVersion, data: Data(new.data.utf8), metadata: new.metadata, recordedAt: Date(), hash: [])
        return try QualityInput(recorded, registry: registry)
    }

    @Test func windowsGiveTheSameTransitionsAsOneEventPerInterval() throws {
        var registry = EventRegistry()
        registry.registerIngestEvents()
        let started = QualityFoldTests.started("s")

        var perInterval = QualityFold()
        _ = perInterval.apply(started)
        var expected: [QualityTransition] = []
        for stats in Self.intervals() {
            let input = try #require(
                try Self.recorded(IngestStatsSampled(sessionID: "s", channelID: "c", stats: stats), position: 1, registry: registry))
            if case .updated(_, let transitions) = perInterval.apply(input) { expected += transitions }
        }

        var windowed = QualityFold()
        _ = windowed.apply(started)
        var window = IngestStatsWindow()
        var got: [QualityTransition] = []
        var events = 0
        func fold(_ closed: IngestStatsWindow.Closed?) throws {
            guard let closed else { return }
            events += 1
            let event = IngestStatsSampled(sessionID: "s", channelID: "c", stats: closed.last, window: closed.summary)
            let input = try #require(try Self.recorded(event, position: 1, registry: registry))
            if case .updated(_, let transitions) = windowed.apply(input) { got += transitions }
        }
        for stats in Self.intervals() { try fold(window.add(stats)) }
        try fold(window.flush())

        #expect(expected.count >= 2, "the scenario moves the machine: \(expected.map { "\($0.from)→\($0.to)" })")
        #expect(got == expected)
        #expect(windowed.sessions["s"] == perInterval.sessions["s"], "the same machine, inputs and clock afterwards")
        #expect(events < Self.intervals().count / 2, "\(events) window events for \(Self.intervals().count) intervals")
    }
}
