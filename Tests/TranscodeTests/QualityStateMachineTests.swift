import Foundation
import TestSupport
import Testing

@testable import Transcode

/// Feeds a machine one-second samples and records its transitions with the second they came at.
struct QualityFeed {
    struct Step: Hashable, CustomStringConvertible {
        var second: Double
        var from: QualityState
        var to: QualityState
        var reason: QualityReason
        var description: String { "\(second): \(from)→\(to) (\(reason.rawValue))" }
    }

    static let origin = Date(timeIntervalSinceReferenceDate: 800_000_000)
    static let good = QualityFigures(lossRate: 0, bandwidth: 8_000_000, rttMilliseconds: 40)

    var machine: QualityStateMachine
    var second: Double = 0
    var steps: [Step] = []
    var transitions: [QualityTransition] = []

    init(_ machine: QualityStateMachine = QualityStateMachine()) { self.machine = machine }

    init(at level: QualityState, thresholds: QualityThresholds = .default) {
        machine = QualityStateMachine(thresholds: thresholds, initial: level)
    }

    mutating func run(_ seconds: Int, _ figures: QualityFigures, interval: Double = 1) {
        for _ in 0..<seconds { sample(figures, interval: interval) }
    }

    mutating func sample(_ figures: QualityFigures, interval: Double = 1) {
        second += interval
        let made = machine.observe(QualitySample(time: Self.origin + second, duration: interval, figures: figures))
        transitions += made
        steps += made.map {
            Step(second: ($0.time.timeIntervalSince(Self.origin) * 1000).rounded() / 1000, from: $0.from, to: $0.to, reason: $0.reason)
        }
    }
}

@Suite("Quality state machine (DESIGN.md §5)")
struct QualityStateMachineTests {
    struct Down: CustomTestStringConvertible, Sendable {
        var start: QualityState
        var figures: QualityFigures
        var expected: [(second: Double, to: QualityState, reason: QualityReason)]
        var testDescription: String { "\(start) with \(figures)" }
    }

    static let downs: [Down] = [
        // Each level's own rules, at the second their window fills.
        Down(start: .high, figures: .init(lossRate: 0.025, bandwidth: 8e6, rttMilliseconds: 40), expected: [(5, .medium, .loss)]),
        Down(start: .high, figures: .init(lossRate: 0, bandwidth: 4.9e6, rttMilliseconds: 40), expected: [(10, .medium, .bandwidth)]),
        Down(start: .medium, figures: .init(lossRate: 0.035, bandwidth: 8e6), expected: [(5, .low, .loss)]),
        Down(start: .medium, figures: .init(lossRate: 0, bandwidth: 2.9e6), expected: [(10, .low, .bandwidth)]),
        Down(start: .low, figures: .init(lossRate: 0.06, bandwidth: 8e6), expected: [(5, .veryLow, .loss)]),
        Down(start: .low, figures: .init(lossRate: 0, bandwidth: 1.4e6), expected: [(10, .veryLow, .bandwidth)]),
        Down(
            start: .veryLow, figures: .init(lossRate: 0.5, bandwidth: 499_000, rttMilliseconds: 2_000), expected: [(20, .error, .bandwidth)]
        ),
        // RTT is congestion: it trips like loss, with the level's limit.
        Down(start: .high, figures: .init(lossRate: 0, bandwidth: 8e6, rttMilliseconds: 350), expected: [(5, .medium, .rtt)]),
        Down(start: .medium, figures: .init(lossRate: 0, bandwidth: 8e6, rttMilliseconds: 600), expected: [(5, .low, .rtt)]),
        Down(start: .low, figures: .init(lossRate: 0, bandwidth: 8e6, rttMilliseconds: 900), expected: [(5, .veryLow, .rtt)]),
        // Jumps: straight to the level the conditions call for.
        Down(start: .high, figures: .init(lossRate: 0.04, bandwidth: 8e6), expected: [(5, .low, .loss)]),
        Down(start: .high, figures: .init(lossRate: 0.2, bandwidth: 8e6), expected: [(5, .veryLow, .loss)]),
        Down(start: .high, figures: .init(lossRate: 0, bandwidth: 2e6), expected: [(10, .low, .bandwidth)]),
        Down(start: .high, figures: .init(lossRate: 0, bandwidth: 1e6), expected: [(10, .veryLow, .bandwidth)]),
        Down(
            start: .high, figures: .init(lossRate: 0, bandwidth: 400_000), expected: [(10, .veryLow, .bandwidth), (20, .error, .bandwidth)]),
        Down(start: .high, figures: .init(lossRate: 0, bandwidth: 8e6, rttMilliseconds: 1_000), expected: [(5, .veryLow, .rtt)]),
        // At the limit is not past it; VERY_LOW never leaves for loss or RTT.
        Down(start: .high, figures: .init(lossRate: 0.02, bandwidth: 5e6, rttMilliseconds: 300), expected: []),
        Down(start: .veryLow, figures: .init(lossRate: 0.9, bandwidth: 600_000, rttMilliseconds: 5_000), expected: []),
        Down(start: .error, figures: .init(lossRate: 1, bandwidth: 0), expected: []),
    ]

    @Test(arguments: downs)
    func downgrades(_ row: Down) {
        var feed = QualityFeed(at: row.start)
        feed.run(40, row.figures)
        #expect(feed.steps.map(\.second) == row.expected.map(\.second))
        #expect(feed.steps.map(\.to) == row.expected.map(\.to))
        #expect(feed.steps.map(\.reason) == row.expected.map(\.reason))
        #expect(feed.steps.first?.from == (row.expected.isEmpty ? nil : row.start))
    }

    @Test func aBreachOneSecondShortOfItsWindowDoesNothing() {
        var feed = QualityFeed()
        for _ in 0..<20 {
            feed.run(4, .init(lossRate: 0.5, bandwidth: 8e6))
            feed.run(1, QualityFeed.good)
            feed.run(9, .init(lossRate: 0, bandwidth: 1e6))
            feed.run(1, QualityFeed.good)
        }
        #expect(feed.steps.isEmpty)
    }

    @Test func alternatingGoodAndBadSamplesNeverOscillate() {
        for start in QualityState.levels {
            var feed = QualityFeed(at: start)
            let bad = QualityFigures(lossRate: 0.3, bandwidth: 100_000, rttMilliseconds: 3_000)
            for _ in 0..<300 {
                feed.sample(bad)
                feed.sample(QualityFeed.good)
            }
            #expect(feed.steps.isEmpty, "\(start): \(feed.steps)")
            #expect(feed.machine.state == start)
        }
    }

    @Test func noisyInputAroundALimitDoesNotFlap() {
        // Loss wandering across MEDIUM's limit, never above it for 5 s: MEDIUM holds, and never climbs.
        var feed = QualityFeed(at: .medium)
        let pattern: [Double] = [0.02, 0.04, 0.035, 0.01, 0.05, 0.02, 0.045, 0.03, 0.06, 0.0]
        for round in 0..<60 { feed.sample(.init(lossRate: pattern[round % pattern.count], bandwidth: 8e6)) }
        for _ in 0..<30 { for loss in pattern { feed.sample(.init(lossRate: loss, bandwidth: 8e6)) } }
        #expect(feed.steps.isEmpty, "\(feed.steps)")
    }

    @Test func recoveryClimbsOneLevelAtATimeThroughRecovery() {
        var feed = QualityFeed(at: .error)
        feed.run(400, QualityFeed.good)
        let expected: [QualityFeed.Step] = [
            .init(second: 60, from: .error, to: .recovery, reason: .stable),
            .init(second: 70, from: .recovery, to: .veryLow, reason: .confirmed),
            .init(second: 130, from: .veryLow, to: .recovery, reason: .stable),
            .init(second: 140, from: .recovery, to: .low, reason: .confirmed),
            .init(second: 200, from: .low, to: .recovery, reason: .stable),
            .init(second: 210, from: .recovery, to: .medium, reason: .confirmed),
            .init(second: 270, from: .medium, to: .recovery, reason: .stable),
            .init(second: 280, from: .recovery, to: .high, reason: .confirmed),
        ]
        #expect(feed.steps == expected)
        #expect(feed.transitions.filter { $0.to == .recovery }.map(\.probing) == [.veryLow, .low, .medium, .high])
        #expect(feed.machine.state == .high)
    }

    @Test func climbingNeedsTheNextLevelsConditionsNotJustTheCurrentOnes() {
        // 4 Mbps is fine for MEDIUM but not for HIGH: it stays MEDIUM for ever.
        var feed = QualityFeed(at: .medium)
        feed.run(300, .init(lossRate: 0, bandwidth: 4e6, rttMilliseconds: 40))
        #expect(feed.steps.isEmpty)
    }

    @Test func downgradeThenRecoveryWaitsSixtySecondsOfStableConditions() {
        var feed = QualityFeed()
        feed.run(10, .init(lossRate: 0, bandwidth: 4e6))
        feed.run(100, QualityFeed.good)
        #expect(
            feed.steps == [
                .init(second: 10, from: .high, to: .medium, reason: .bandwidth),
                .init(second: 70, from: .medium, to: .recovery, reason: .stable),
                .init(second: 80, from: .recovery, to: .high, reason: .confirmed),
            ])
    }

    @Test func aBadSampleDuringTheProbeFallsBackAndRestartsTheWait() {
        var feed = QualityFeed(at: .medium)
        feed.run(65, QualityFeed.good)
        feed.sample(.init(lossRate: 0, bandwidth: 4e6))  // not enough for HIGH, fine for MEDIUM
        feed.run(80, QualityFeed.good)
        #expect(
            feed.steps == [
                .init(second: 60, from: .medium, to: .recovery, reason: .stable),
                .init(second: 66, from: .recovery, to: .medium, reason: .probeFailed),
                .init(second: 126, from: .medium, to: .recovery, reason: .stable),
                .init(second: 136, from: .recovery, to: .high, reason: .confirmed),
            ])
    }

    @Test func troubleDuringTheProbeFailsItThenTripsTheLevel() {
        var feed = QualityFeed(at: .medium)
        feed.run(62, QualityFeed.good)
        feed.run(10, .init(lossRate: 0.04, bandwidth: 8e6))
        #expect(
            feed.steps == [
                .init(second: 60, from: .medium, to: .recovery, reason: .stable),
                .init(second: 63, from: .recovery, to: .medium, reason: .probeFailed),
                .init(second: 67, from: .medium, to: .low, reason: .loss),
            ])
    }

    @Test func aTripWhileProbingLeavesRecoveryDirectly() {
        // LOW probing MEDIUM, on a channel whose MEDIUM has no bandwidth floor: a bandwidth
        // collapse keeps the probe alive until LOW's own rule trips, from RECOVERY straight down.
        var custom = QualityThresholds.default
        custom.medium.minimumBandwidth = nil
        custom.probeSeconds = 30
        var feed = QualityFeed(at: .low, thresholds: custom)
        feed.run(60, QualityFeed.good)
        #expect(feed.machine.state == .recovery)
        feed.run(10, .init(lossRate: 0, bandwidth: 1e6))
        #expect(
            feed.steps == [
                .init(second: 60, from: .low, to: .recovery, reason: .stable),
                .init(second: 70, from: .recovery, to: .veryLow, reason: .bandwidth),
            ])
    }

    @Test func channelThresholdsReplaceTheDefaults() {
        var relaxed = QualityThresholds.default
        relaxed.high.minimumBandwidth = 3_000_000
        relaxed.high.maximumLossRate = 0.1
        relaxed.high.maximumRTTMilliseconds = nil
        var feed = QualityFeed(at: .high, thresholds: relaxed)
        feed.run(60, .init(lossRate: 0.05, bandwidth: 4e6, rttMilliseconds: 2_000))
        #expect(feed.steps.isEmpty)
        // Tighter limits, set mid-stream, apply from the next sample with the windows kept.
        var strict = relaxed
        strict.high.maximumLossRate = 0.01
        strict.high.lossSeconds = 2
        feed.machine.configure(strict)
        feed.run(2, .init(lossRate: 0.05, bandwidth: 4e6))
        #expect(feed.steps == [.init(second: 62, from: .high, to: .low, reason: .loss)])
        // Faster recovery when a channel wants it.
        var quick = QualityThresholds.default
        quick.stableSeconds = 10
        quick.probeSeconds = 2
        var fast = QualityFeed(at: .low, thresholds: quick)
        fast.run(12, QualityFeed.good)
        #expect(fast.steps.map(\.second) == [10, 12])
    }

    @Test func thresholdsSayWhatIsWrong() {
        #expect(QualityThresholds.default.problems.isEmpty)
        var broken = QualityThresholds.default
        broken.medium.maximumLossRate = 3
        broken.stableSeconds = 0
        broken.low.minimumBandwidth = -.infinity
        #expect(broken.problems.count == 3)
        #expect(broken.problems.contains { $0.contains("medium.maximumLossRate") && $0.contains("0.02 is 2 %") })
    }

    @Test func unknownFiguresNeitherTripNorHoldBack() {
        var feed = QualityFeed(at: .veryLow)
        feed.run(200, QualityFigures())
        #expect(feed.steps.map(\.to).prefix(2) == [.recovery, .low])
        var down = QualityFeed()
        down.run(60, QualityFigures(lossRate: .nan, bandwidth: -5, rttMilliseconds: .infinity))
        #expect(down.steps.isEmpty)
    }

    @Test func aPauseLongerThanTheGapRestartsEveryWindow() {
        var feed = QualityFeed()
        let bad = QualityFigures(lossRate: 0.1, bandwidth: 8e6)
        feed.run(4, bad)
        feed.second += 30  // the encoder was away
        feed.run(4, bad)
        #expect(feed.steps.isEmpty)
        feed.run(1, bad)
        #expect(feed.steps.map(\.second) == [39])
        // Samples out of order are ignored.
        let before = feed.machine
        let stale = feed.machine.observe(QualitySample(time: QualityFeed.origin + 1, duration: 1, figures: bad))
        #expect(stale.isEmpty && feed.machine == before)
    }

    @Test func replayingTheSameSamplesGivesTheSameTransitionsAndTheStateSurvivesJSON() throws {
        var figures: [QualityFigures] = []
        var generator = SeededGenerator(state: 7)
        for _ in 0..<2_000 {
            let roll = generator.next() % 100
            figures.append(
                QualityFigures(
                    lossRate: roll < 20 ? Double(generator.next() % 100) / 1000 : 0,
                    bandwidth: Double(200_000 + generator.next() % 9_000_000),
                    rttMilliseconds: Double(20 + generator.next() % 900)))
        }
        var first = QualityFeed()
        for figure in figures { first.sample(figure, interval: 0.997) }
        #expect(!first.steps.isEmpty)

        var second = QualityFeed()
        for (index, figure) in figures.enumerated() {
            if index % 37 == 0 {
                let data = try JSONEncoder().encode(second.machine)
                let decoded = try JSONDecoder().decode(QualityStateMachine.self, from: data)
                #expect(decoded == second.machine)
                second.machine = decoded
            }
            second.sample(figure, interval: 0.997)
        }
        #expect(second.transitions == first.transitions)
    }

    @Test func transitionsCarryTheirFiguresAndAReadableDetail() throws {
        var feed = QualityFeed()
        feed.run(5, .init(lossRate: 0.041, bandwidth: 8e6, rttMilliseconds: 40))
        let transition = try #require(feed.transitions.first)
        #expect(transition.figures.lossRate == 0.041)
        #expect(transition.detail == "loss 4.1 % above HIGH's 2.0 % for 5 s")
        let event = QualityChanged(sessionID: "s", channelID: "c", transition: transition)
        #expect(event.from == .high && event.to == .low && event.reason == .loss)
    }
}
