import EventStore
import Foundation
import Media
import Testing

@testable import Ingest
@testable import Quality

/// Issue 25 item 4: each ingest alert rule raises once broken for its persistence time, clears
/// once it held for the clear time, never flaps, and ends with its session.
@Suite struct IngestAlertSessionTests {
    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A compliant second: 30 fps with audio, 2 s keyframes, video 40 ms ahead of audio, 3 Mbit/s.
    static func good() -> IngestStats {
        var stats = IngestStats()
        stats.intervalSeconds = 1
        stats.receivedBitrate = 3_000_000
        stats.videoFrameRate = 30
        stats.audioFrameRate = 46.88
        stats.avDriftMilliseconds = 40
        stats.keyframeIntervalMilliseconds = 2_000
        return stats
    }

    /// One second breaking `rule` (and only it).
    static func breaking(_ rule: IngestAlertRule) -> IngestStats {
        var stats = good()
        switch rule {
        case .bitrate: stats.receivedBitrate = 200_000
        case .frameRate: stats.videoFrameRate = 9
        case .keyframeInterval: stats.keyframeIntervalMilliseconds = 10_000
        case .bFrames: stats.reorderedVideoFrames = 20
        case .audioMissing: stats.audioFrameRate = 0
        case .avDrift: stats.avDriftMilliseconds = -2_500
        }
        return stats
    }

    /// Defaults, with a bitrate range so that the bitrate rule is on.
    static let rules: IngestAlertRules = {
        var rules = IngestAlertRules.default
        rules.minimumBitrate = 500_000
        rules.maximumBitrate = 8_000_000
        return rules
    }()

    struct Run {
        var session = IngestAlertSession(sessionID: "s", channelID: "c", rules: IngestAlertSessionTests.rules)
        var seconds = 0

        mutating func feed(_ stats: IngestStats, times: Int) -> [IngestAlertSession.Transition] {
            var transitions: [IngestAlertSession.Transition] = []
            for _ in 0..<times {
                seconds += 1
                transitions += session.sampled(stats, at: IngestAlertSessionTests.start.addingTimeInterval(Double(seconds)))
            }
            return transitions
        }
    }

    @Test(arguments: IngestAlertRule.allCases)
    func eachRuleRaisesAfterFiveBrokenSecondsAndClearsAfterTenGoodOnes(_ rule: IngestAlertRule) throws {
        var run = Run()
        #expect(run.feed(Self.good(), times: 3).isEmpty)
        #expect(run.feed(Self.breaking(rule), times: 4).isEmpty, "4 s is not yet 5")
        let raised = run.feed(Self.breaking(rule), times: 1)
        guard case .raised(let alert) = try #require(raised.first), raised.count == 1 else {
            Issue.record("\(rule): \(raised)")
            return
        }
        #expect(alert.rule == rule)
        #expect(alert.since == Self.start.addingTimeInterval(8))
        #expect(!alert.message.isEmpty && alert.message.contains(":"), "says what to do: \(alert.message)")
        #expect(run.session.open.map(\.rule) == [rule])
        #expect(run.feed(Self.breaking(rule), times: 20).isEmpty, "raised once")
        #expect(run.feed(Self.good(), times: 9).isEmpty, "9 s held is not yet 10")
        #expect(run.feed(Self.good(), times: 1) == [.cleared(rule, durationSeconds: 30)])
        #expect(run.session.open.isEmpty)
    }

    @Test func theFiguresAndLimitsAreTheRulesOwn() throws {
        func raise(_ stats: IngestStats) -> IngestAlert? {
            var run = Run()
            for transition in run.feed(stats, times: 5) { if case .raised(let alert) = transition { return alert } }
            return nil
        }
        let keyframes = try #require(raise(Self.breaking(.keyframeInterval)))
        #expect(keyframes.measured == 10 && keyframes.limit == 4)
        #expect(keyframes.message.contains("10 s apart") && keyframes.message.contains("keyframe interval to 2 s"))
        let drift = try #require(raise(Self.breaking(.avDrift)))
        #expect(drift.measured == -2_500 && drift.limit == 1_000 && drift.message.contains("2.5 s behind audio"))
        let fps = try #require(raise(Self.breaking(.frameRate)))
        #expect(fps.measured == 9 && fps.limit == 15)
        let low = try #require(raise(Self.breaking(.bitrate)))
        #expect(low.measured == 200_000 && low.limit == 500_000 && low.message.contains("200 kbit/s"))
        var high = Self.good()
        high.receivedBitrate = 9_000_000
        #expect(try #require(raise(high)).limit == 8_000_000)
    }

    @Test func aBreachThatComesAndGoesNeverRaisesAndARaisedOneThatComesAndGoesNeverClears() {
        var run = Run()
        // Broken 4 s out of every 5: no run of 5 s, no alert.
        for _ in 0..<10 {
            #expect(run.feed(Self.breaking(.audioMissing), times: 4).isEmpty)
            #expect(run.feed(Self.good(), times: 1).isEmpty)
        }
        #expect(run.feed(Self.breaking(.audioMissing), times: 5).count == 1)
        // Good 9 s out of every 10: never 10 s in a row, so it stays raised (no flapping).
        for _ in 0..<10 {
            #expect(run.feed(Self.good(), times: 9).isEmpty)
            #expect(run.feed(Self.breaking(.audioMissing), times: 1).isEmpty)
        }
        #expect(run.session.open.map(\.rule) == [.audioMissing])
    }

    @Test func intervalsOfUnevenLengthCountByTheirSecondsAndJitterDoesNotDelayARaise() {
        var run = Run()
        var jittery = Self.breaking(.frameRate)
        jittery.intervalSeconds = 0.998
        #expect(run.feed(jittery, times: 4).isEmpty)
        #expect(run.feed(jittery, times: 1).count == 1, "4.99 s counts as 5")
        var other = Run()
        var long = Self.breaking(.frameRate)
        long.intervalSeconds = 2.5
        #expect(other.feed(long, times: 1).isEmpty)
        #expect(other.feed(long, times: 1).count == 1)
        var corrupt = Self.breaking(.frameRate)
        corrupt.intervalSeconds = .infinity
        var third = Run()
        #expect(third.feed(corrupt, times: 100).isEmpty, "an interval that is not a number counts for nothing")
    }

    @Test func unknownFiguresNeitherRaiseNorClear() {
        var run = Run()
        var noVideo = Self.good()
        noVideo.keyframeIntervalMilliseconds = nil
        #expect(run.feed(Self.breaking(.keyframeInterval), times: 5).count == 1)
        #expect(run.feed(noVideo, times: 30).isEmpty, "no keyframe figure: still raised")
        // A/V drift is judged only while both tracks flow: audio missing makes drift grow, but
        // only the audio rule raises.
        var silent = Self.good()
        silent.audioFrameRate = 0
        silent.avDriftMilliseconds = 30_000
        var other = Run()
        let transitions = other.feed(silent, times: 10)
        #expect(other.session.open.map(\.rule) == [.audioMissing], "\(transitions)")
    }

    @Test func aRuleTurnedOffClearsAtTheNextIntervalAndOneTurnedOnStartsCounting() {
        var run = Run()
        #expect(run.feed(Self.breaking(.bFrames), times: 5).count == 1)
        var rules = Self.rules
        rules.bFrames = false
        run.session.configure(rules)
        #expect(run.feed(Self.breaking(.bFrames), times: 1) == [.cleared(.bFrames, durationSeconds: 1)])
        #expect(run.feed(Self.breaking(.bFrames), times: 10).isEmpty)
        rules.bFrames = true
        rules.raiseAfterSeconds = 2
        run.session.configure(rules)
        #expect(run.feed(Self.breaking(.bFrames), times: 2).count == 1)
    }

    @Test func aReconnectStartsEveryRunAgainButKeepsRaisedAlerts() {
        var run = Run()
        #expect(run.feed(Self.breaking(.audioMissing), times: 5).count == 1)
        #expect(run.feed(Self.breaking(.frameRate), times: 4).isEmpty)
        run.session.resumed()
        #expect(run.feed(Self.breaking(.frameRate), times: 4).isEmpty, "the 4 s before the gap do not count")
        #expect(run.session.open.map(\.rule) == [.audioMissing])
        #expect(run.feed(Self.breaking(.frameRate), times: 1).count == 1, "the fifth second after the gap raises")
        #expect(run.session.open.map(\.rule) == [.frameRate, .audioMissing], "in rule order")
    }

    @Test func theFoldEndsASessionsAlertsWithItAndIgnoresWhatFollows() throws {
        var fold = IngestAlertFold()
        let started = StreamStarted(
            sessionID: "s1", channelID: "c1", channelName: "demo", protocol: "rtmp", remoteAddress: "127.0.0.1:1",
            description: StreamDescription(video: .init(codec: "avc1", width: 640, height: 360, frameRate: 30, bitrate: nil), encoder: nil))
        guard case .opened = fold.apply(.started(started)) else { Issue.record("not opened"); return }
        guard case .none = fold.apply(.started(started)) else { Issue.record("a second start opened again"); return }
        let window = IngestStatsSummary(Array(repeating: Self.breaking(.audioMissing), count: 6))
        let sampled = IngestStatsSampled(sessionID: "s1", channelID: "c1", stats: Self.breaking(.audioMissing), window: window)
        guard case .updated(let session, let transitions) = fold.apply(.sampled(sampled, at: Self.start)) else {
            Issue.record("not updated")
            return
        }
        #expect(transitions.count == 1 && session.open.map(\.rule) == [.audioMissing])
        guard case .closed("s1") = fold.apply(.ended(Self.ended("s1"))) else {
            Issue.record("not closed")
            return
        }
        guard case .none = fold.apply(.sampled(sampled, at: Self.start)) else { Issue.record("a sample after the end counted"); return }
        // A channel's rules reach its later sessions.
        var rules = IngestAlertRules.default
        rules.audioMissing = false
        _ = fold.apply(.configured(IngestAlertRulesConfigured(channelID: "c1", rules: rules)))
        var next = started
        next.sessionID = "s2"
        guard case .opened(let second) = fold.apply(.started(next)) else { Issue.record("not opened"); return }
        #expect(second.rules == rules)
    }

    static func ended(_ id: String) -> StreamEnded {
        StreamEnded(
            sessionID: id, channelID: "c1", reason: .encoderClosed, detail: nil, durationSeconds: 10, bytesReceived: 0, reconnects: 0)
    }

    @Test func theSessionsStateSurvivesItsRecord() throws {
        var run = Run()
        _ = run.feed(Self.breaking(.keyframeInterval), times: 6)
        _ = run.feed(Self.breaking(.frameRate), times: 3)
        let copy = try IngestAlertSession.decode(try IngestAlertSession.encode(run.session))
        #expect(copy == run.session)
    }

    @Test func rulesThatCannotWorkAreRefusedWithEveryProblemNamed() {
        #expect(IngestAlertRules.default.problems.isEmpty)
        #expect(IngestAlertRules.default.minimumBitrate == nil && IngestAlertRules.default.maximumBitrate == nil)
        var rules = IngestAlertRules.default
        rules.minimumBitrate = 6_000_000
        rules.maximumBitrate = 3_000_000
        rules.minimumFrameRate = 0
        rules.maximumKeyframeIntervalSeconds = .nan
        rules.maximumAVDriftMilliseconds = -5
        rules.raiseAfterSeconds = 0
        rules.clearAfterSeconds = 10_000
        let problems = rules.problems
        #expect(problems.count == 6, "\(problems)")
        #expect(problems.contains("minimumBitrate (6000000) is above maximumBitrate (3000000); swap them"))
        #expect(problems.contains { $0.hasPrefix("minimumFrameRate must be between 1 and 240 frames per second") })
        #expect(problems.contains { $0.hasPrefix("maximumKeyframeIntervalSeconds must be between 0.5 and 60 seconds") })
        #expect(problems.contains { $0.hasPrefix("maximumAVDriftMilliseconds must be between 10 and 60000 ms") })
        #expect(problems.contains("raiseAfterSeconds must be between 1 and 600"))
        #expect(problems.contains("clearAfterSeconds must be between 1 and 600"))
        var off = IngestAlertRules.default
        off.minimumFrameRate = nil
        off.maximumKeyframeIntervalSeconds = nil
        off.maximumAVDriftMilliseconds = nil
        #expect(off.problems.isEmpty, "null turns a rule off")
    }
}

/// The figures the rules read, as ingest measures them and as windows keep them.
@Suite struct IngestAlertFiguresTests {
    static func packet(_ track: TrackKind, pts: Int64, dts: Int64, key: Bool = false) -> MediaPacket {
        MediaPacket(track: track, pts: pts, dts: dts, timebase: .milliseconds, isKeyframe: key, data: [])
    }

    @Test func theKeyframeIntervalShowsALongGOPBeforeItEnds() {
        var accumulator = IngestStatsAccumulator()
        var dts: Int64 = 0
        func second(keyEvery: Int) -> IngestStats {
            for _ in 0..<30 {
                accumulator.record(Self.packet(.video, pts: dts, dts: dts, key: keyEvery > 0 && (dts / 33) % Int64(keyEvery) == 0))
                dts += 33
            }
            return accumulator.sample(totalBytes: 0, interval: .seconds(1), queueDepth: 0, backpressured: false)
        }
        // 2 s GOP (60 frames): never more than 2 s.
        let steady = (0..<6).map { _ in second(keyEvery: 60) }
        #expect(steady.allSatisfy { ($0.keyframeIntervalMilliseconds ?? 0) <= 2_000 }, "\(steady.map(\.keyframeIntervalMilliseconds))")
        #expect(steady.allSatisfy { $0.reorderedVideoFrames == nil })
        // Then no keyframe at all: the open gap grows every second.
        let open = (0..<6).map { _ in second(keyEvery: 0) }.compactMap(\.keyframeIntervalMilliseconds)
        #expect(open == open.sorted() && (open.last ?? 0) > 6_000, "\(open)")
    }

    @Test func framesPresentedOutOfDecodeOrderAreCountedAsReordered() {
        var accumulator = IngestStatsAccumulator()
        // I P B B: decode order 0 1 2 3, presentation 0 3 1 2 (in frames of 33 ms).
        let order: [Int64] = [0, 3, 1, 2, 4, 7, 5, 6]
        for (index, shown) in order.enumerated() {
            accumulator.record(Self.packet(.video, pts: shown * 33 + 66, dts: Int64(index) * 33, key: index == 0))
        }
        let stats = accumulator.sample(totalBytes: 0, interval: .seconds(1), queueDepth: 0, backpressured: false)
        #expect(stats.reorderedVideoFrames == 4)
    }

    @Test func windowsKeepTheAlertFiguresOfEveryIntervalAndOldWindowsStillDecode() throws {
        var stats = IngestStats()
        stats.intervalSeconds = 1
        stats.avDriftMilliseconds = -120
        stats.keyframeIntervalMilliseconds = 4_000
        stats.reorderedVideoFrames = 7
        let summary = try #require(IngestStatsSummary([stats, stats]))
        let back = IngestStats(try #require(summary.samples.first))
        #expect(back.avDriftMilliseconds == -120 && back.keyframeIntervalMilliseconds == 4_000 && back.reorderedVideoFrames == 7)
        let old = #"{"seconds":1,"bitrate":1000,"videoFPS":30,"audioFPS":47}"#
        let sample = try JSONDecoder().decode(IngestStatsSummary.Sample.self, from: Data(old.utf8))
        #expect(sample.keyframeMs == nil && sample.driftMs == nil && sample.reordered == nil)
        let oldStats =
            #"{"intervalSeconds":1,"receivedBitrate":1000,"videoFrameRate":30,"audioFrameRate":47,"lateFrames":0,"droppedFrames":0,"queueDepth":0,"backpressured":false,"bytesReceivedTotal":10}"#
        #expect(try JSONDecoder().decode(IngestStats.self, from: Data(oldStats.utf8)).keyframeIntervalMilliseconds == nil)
    }
}
