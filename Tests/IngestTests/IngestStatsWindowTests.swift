import EventStore
import Foundation
import Testing

@testable import Ingest

/// The window that turns 1 s statistics into one `IngestStatsSampled` per 10 s.
@Suite("Ingest statistics windows")
struct IngestStatsWindowTests {
    static func sample(
        bitrate: Int = 6_000_000, fps: Double = 30, dropped: Int = 0, lag: Int64? = 1_000, seconds: Double = 1
    )
        -> IngestStats
    {
        var stats = IngestStats()
        stats.intervalSeconds = seconds
        stats.receivedBitrate = bitrate
        stats.videoFrameRate = fps
        stats.audioFrameRate = 46.875
        stats.droppedFrames = dropped
        stats.timestampLagMilliseconds = lag
        stats.bytesReceivedTotal = 42
        return stats
    }

    @Test func steadyIntervalsCloseAWindowEveryTenSeconds() throws {
        var window = IngestStatsWindow()
        var closed: [IngestStatsWindow.Closed] = []
        for second in 0..<35 {
            if let out = window.add(Self.sample(bitrate: 6_000_000 + (second % 3) * 100_000, fps: 30)) { closed.append(out) }
        }
        #expect(closed.map(\.summary.intervals) == [10, 10, 10])
        let first = try #require(closed.first?.summary)
        #expect(first.seconds == 10)
        #expect(first.receivedBitrate.min == 6_000_000 && first.receivedBitrate.max == 6_200_000)
        #expect(first.videoFrameRate == .init(min: 30, avg: 30, max: 30))
        #expect(first.samples.count == 10)
        let flushed = window.flush()
        #expect(flushed?.summary.intervals == 5, "the flush closes the window in progress")
        let empty = window.flush()
        #expect(empty == nil, "an empty window closes to nothing")
    }

    @Test func troubleClosesTheWindowAtOnce() {
        var window = IngestStatsWindow()
        /// How many intervals the window closed with at this one (0: still open).
        func add(_ stats: IngestStats) -> Int { window.add(stats)?.summary.intervals ?? 0 }
        #expect(add(Self.sample()) == 0)
        #expect(add(Self.sample()) == 0)
        #expect(add(Self.sample(dropped: 3)) == 3, "dropped frames close the window")
        #expect(add(Self.sample()) == 0)
        #expect(add(Self.sample(bitrate: 2_000_000)) == 2, "a bitrate under half the mean closes it")
        #expect(add(Self.sample()) == 0)
        #expect(add(Self.sample(lag: 1_400)) == 2, "a queueing delay of 250 ms or more closes it")
        #expect(add(Self.sample(lag: 1_400)) == 1, "and every interval while the delay lasts")
        window.reconnected()
        #expect(add(Self.sample(lag: 9_000)) == 0, "a new connection has a new lag origin")
        #expect(add(Self.sample(fps: 20)) == 2, "a frame rate under 80 % of the mean closes it")
        var dropped = IngestStatsWindow()
        let closed = dropped.add(Self.sample(dropped: 3))
        #expect(closed?.summary.droppedFrames == 3)
    }

    @Test func aWindowGivesBackTheFiguresTheQualityMachineReads() throws {
        var link = SRTLinkStatistics()
        link.rttMilliseconds = 12.5
        link.receiveRateMbps = 6.125
        link.bandwidthMbps = 940.5
        link.packetsReceived = 570
        link.packetsLost = 3
        link.packetsDropped = 1
        var first = Self.sample(lag: nil, seconds: 1.003)
        first.srt = link
        first.lateFrames = 2
        var second = Self.sample(bitrate: 5_500_000, fps: 29.97, lag: nil, seconds: 0.998)
        second.srt = link
        let summary = try #require(IngestStatsSummary([first, second]))
        let event = IngestStatsSampled(sessionID: "s", channelID: "c", stats: second, window: summary)
        // Through the log's JSON and back, as the quality machine reads it.
        var registry = EventRegistry()
        registry.registerIngestEvents()
        let new = try NewEvent(event, metadata: EventMetadata(actor: .system("test")))
        let recorded = RecordedEvent(
            position: 1, streamId: "session-s", streamVersion: 1, eventId: new.eventId, eventType: new.eventType,
            schemaVersion: new.schemaVersion, data: Data(new.data.utf8), metadata: new.metadata, recordedAt: Date(), hash: [])
        let decoded = try registry.decode(recorded, as: IngestStatsSampled.self)
        let intervals = decoded.intervals
        #expect(intervals.count == 2)
        for (got, want) in zip(intervals, [first, second]) {
            #expect(got.intervalSeconds == want.intervalSeconds)
            #expect(got.receivedBitrate == want.receivedBitrate)
            #expect(got.videoFrameRate == want.videoFrameRate && got.audioFrameRate == want.audioFrameRate)
            #expect(got.lateFrames == want.lateFrames && got.droppedFrames == want.droppedFrames)
            #expect(got.timestampLagMilliseconds == want.timestampLagMilliseconds)
            #expect(got.srt?.rttMilliseconds == 12.5 && got.srt?.receiveRateMbps == 6.125 && got.srt?.bandwidthMbps == 940.5)
            #expect(got.srt?.packetsReceived == 570 && got.srt?.packetsLost == 3)
        }
        #expect(decoded.stats == second, "the last interval keeps every figure")
        #expect(decoded.window?.srtPacketsLost == 6 && decoded.window?.srtPacketsDropped == 2)
        #expect(decoded.window?.lateFrames == 2)
    }

    @Test func aSchemaOneEventReadsAsAWindowOfOne() throws {
        var registry = EventRegistry()
        registry.registerIngestEvents()
        let stats = Self.sample()
        struct V1: Encodable {
            var sessionID = "s"
            var channelID = "c"
            var stats: IngestStats
        }
        let json = try EventCoding.encoder().encode(V1(stats: stats))
        let recorded = RecordedEvent(
            position: 1, streamId: "session-s", streamVersion: 1, eventId: UUID(), eventType: IngestStatsSampled.eventType,
            schemaVersion: 1, data: json, metadata: EventMetadata(actor: .system("test")), recordedAt: Date(), hash: [])
        let decoded = try registry.decode(recorded, as: IngestStatsSampled.self)
        #expect(decoded.window == nil)
        #expect(decoded.intervals == [stats])
    }
}
