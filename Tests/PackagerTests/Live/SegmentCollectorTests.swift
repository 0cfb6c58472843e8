import EventStore
import Foundation
import Media
import Testing

@testable import Packager

/// One `SegmentPublished` per segment of the ladder, however the renditions' reports interleave.
@Suite("Segment collector")
struct SegmentCollectorTests {
    static let start = ContinuousClock.now

    static func report(_ rendition: String, _ sequence: Int, kind: TrackKind = .video) -> SegmentPublished {
        SegmentPublished(
            sessionID: "s", channelID: "c", channelName: "demo", mediaSequence: sequence,
            renditions: [
                .init(
                    rendition: rendition, kind: kind, duration: 2, bytes: 100, programDateTime: Date(timeIntervalSince1970: 0),
                    path: "s/\(rendition)/seg\(sequence).m4s", discontinuity: false, codecs: "avc1", sha256: "ab")
            ])
    }

    static func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int(seconds * 1000)) }

    let ladder: Set<String> = ["1080p", "720p", "audio"]

    @Test func aSegmentGoesOutOnceEveryExpectedRenditionHasIt() {
        var collector = SegmentCollector(deadline: .seconds(2))
        #expect(collector.add(Self.report("1080p", 1), expected: ladder, now: Self.at(0)).isEmpty)
        #expect(collector.add(Self.report("audio", 1, kind: .audio), expected: ladder, now: Self.at(0.01)).isEmpty)
        let out = collector.add(Self.report("720p", 1), expected: ladder, now: Self.at(0.02))
        #expect(out.count == 1)
        #expect(out.first?.mediaSequence == 1)
        #expect(out.first?.renditions.map(\.rendition) == ["audio", "1080p", "720p"])
        #expect(collector.pendingSequences.isEmpty)
    }

    @Test func aLateRenditionIsLeftOutAfterTheDeadlineAndThenGoesOutAlone() {
        var collector = SegmentCollector(deadline: .seconds(2))
        _ = collector.add(Self.report("1080p", 1), expected: ladder, now: Self.at(0))
        _ = collector.add(Self.report("audio", 1, kind: .audio), expected: ladder, now: Self.at(0.1))
        #expect(collector.expire(now: Self.at(1.9)).isEmpty)
        let expired = collector.expire(now: Self.at(2.0))
        #expect(expired.map(\.mediaSequence) == [1])
        #expect(expired.first?.renditions.count == 2)
        let late = collector.add(Self.report("720p", 1), expected: ladder, now: Self.at(2.5))
        #expect(late.map(\.mediaSequence) == [1] && late.first?.renditions.map(\.rendition) == ["720p"])
    }

    @Test func segmentsGoOutInOrder() {
        var collector = SegmentCollector(deadline: .seconds(2))
        _ = collector.add(Self.report("720p", 1), expected: ladder, now: Self.at(0))
        _ = collector.add(Self.report("1080p", 2), expected: ladder, now: Self.at(1))
        _ = collector.add(Self.report("720p", 2), expected: ladder, now: Self.at(1))
        let out = collector.add(Self.report("audio", 2, kind: .audio), expected: ladder, now: Self.at(1.01))
        #expect(out.map(\.mediaSequence) == [1, 2], "segment 2 complete releases the incomplete 1 before it")
    }

    @Test func aRenditionTurnedOffIsNotWaitedFor() {
        var collector = SegmentCollector(deadline: .seconds(2))
        let on: Set<String> = ["1080p", "audio"]
        _ = collector.add(Self.report("1080p", 5), expected: on, now: Self.at(0))
        #expect(collector.add(Self.report("audio", 5, kind: .audio), expected: on, now: Self.at(0)).count == 1)
    }

    @Test func theEndFlushesEverySegmentStillWaiting() {
        var collector = SegmentCollector(deadline: .seconds(2))
        _ = collector.add(Self.report("1080p", 7), expected: ladder, now: Self.at(0))
        _ = collector.add(Self.report("720p", 8), expected: ladder, now: Self.at(0))
        let out = collector.flush()
        #expect(out.map(\.mediaSequence) == [7, 8])
        #expect(collector.flush().isEmpty)
    }

    @Test func aSchemaOneEventReadsAsOneRendition() throws {
        var registry = EventRegistry()
        registry.registerPackagerEvents()
        let v1 = """
            {"bytes":1234,"channelID":"c","channelName":"demo","codecs":"avc1.64001f","discontinuity":false,"duration":2.002,\
            "frameRate":29.97,"height":720,"kind":"video","mediaSequence":3,"path":"s/720p/seg3.m4s",\
            "programDateTime":"2026-12-06T08:00:00.123Z","recorded":true,"rendition":"720p","sessionID":"s","width":1280}
            """
        let recorded = RecordedEvent(
            position: 1, streamId: "session-s", streamVersion: 1, eventId: UUID(), eventType: SegmentPublished.eventType,
            schemaVersion: 1, data: Data(v1.utf8), metadata: EventMetadata(actor: .system("test")), recordedAt: Date(), hash: [])
        let event = try registry.decode(recorded, as: SegmentPublished.self)
        #expect(event.mediaSequence == 3 && event.recorded == true && event.channelName == "demo")
        let entry = try #require(event.renditions.first)
        #expect(event.renditions.count == 1)
        #expect(entry.rendition == "720p" && entry.kind == .video && entry.bytes == 1234 && entry.duration == 2.002)
        #expect(entry.path == "s/720p/seg3.m4s" && entry.discontinuity == false && entry.codecs == "avc1.64001f")
        #expect(entry.width == 1280 && entry.height == 720 && entry.frameRate == 29.97)
        #expect(entry.sha256 == nil && entry.initialization == nil)
        #expect(abs(entry.programDateTime.timeIntervalSince1970 - 1_796_544_000.123) < 0.001)
    }
}
