import Foundation
import Synchronization
import Testing

@testable import Transcode

/// Records control calls the way `Transcoder` keeps them.
final class RecordingControl: QualityControl {
    struct State: Sendable, Hashable {
        var disabled: Set<String> = []
        var audioOnly = false
        var calls = 0
    }
    let state = Mutex(State())

    func setEnabled(_ enabled: Bool, rendition name: String) {
        state.withLock {
            if enabled { $0.disabled.remove(name) } else { $0.disabled.insert(name) }
            $0.calls += 1
        }
    }

    func setAudioOnly(_ audioOnly: Bool) {
        state.withLock {
            $0.audioOnly = audioOnly
            $0.calls += 1
        }
    }

    var snapshot: State { state.withLock { $0 } }
}

@Suite("Quality ladder policy and health score")
struct QualityLadderPolicyTests {
    static let withPassthrough = QualityLadderPolicy(ladder: .default, sourceHeight: 1080)

    @Test(arguments: [
        (QualityState.high, ["1080p", "360p", "480p", "720p", "source"], false),
        (.medium, ["360p", "480p", "720p"], false),
        (.low, ["360p", "480p"], false),
        (.veryLow, ["360p"], false),
        (.error, ["360p"], true),
    ])
    func eachLevelKeepsRenditionsUpToItsHeight(_ level: QualityState, _ enabled: [String], _ audioOnly: Bool) throws {
        let decision = try #require(Self.withPassthrough.decision(for: level))
        #expect(decision.enabled == enabled)
        #expect(Set(decision.enabled).union(decision.disabled) == ["1080p", "720p", "480p", "360p", "source"])
        #expect(decision.audioOnly == audioOnly)
    }

    @Test func recoveryKeepsWhatIsOn() {
        #expect(Self.withPassthrough.decision(for: .recovery) == nil)
        let control = RecordingControl()
        Self.withPassthrough.apply(.low, to: control)
        let before = control.snapshot
        Self.withPassthrough.apply(.recovery, to: control)
        #expect(control.snapshot == before)
        #expect(before.disabled == ["1080p", "720p", "source"] && !before.audioOnly)
    }

    @Test func thePassthroughCountsAtTheSourcesHeight() throws {
        // A 720p source passed through stays on at MEDIUM; one of unknown height only in HIGH.
        let policy = QualityLadderPolicy(ladder: .default, sourceHeight: 720)
        #expect(try #require(policy.decision(for: .medium)).enabled == ["360p", "480p", "720p", "source"])
        let unknown = QualityLadderPolicy(ladder: .default)
        #expect(try #require(unknown.decision(for: .medium)).disabled == ["1080p", "source"])
        #expect(try #require(unknown.decision(for: .high)).disabled.isEmpty)
    }

    @Test func videoStopsOnlyInError() throws {
        let policy = QualityLadderPolicy(
            ladder: Ladder(rungs: [
                Rung(name: "1080p", height: 1080, frameRate: 30, bitrate: 4_500_000, priority: 0),
                Rung(name: "720p", height: 720, frameRate: 30, bitrate: 2_500_000, priority: 1),
            ]))
        #expect(try #require(policy.decision(for: .veryLow)).enabled == ["720p"])
        #expect(try #require(policy.decision(for: .low)).enabled == ["720p"])
        #expect(try #require(policy.decision(for: .error)).audioOnly)
    }

    @Test func applyingDrivesTheControlAPIThroughADowngradeAndBack() {
        let control = RecordingControl()
        let policy = Self.withPassthrough
        policy.apply(.high, to: control)
        #expect(control.snapshot.disabled.isEmpty && !control.snapshot.audioOnly)
        policy.apply(.error, to: control)
        #expect(control.snapshot.audioOnly && control.snapshot.disabled == ["1080p", "480p", "720p", "source"])
        policy.apply(.veryLow, to: control)
        #expect(!control.snapshot.audioOnly && control.snapshot.disabled == ["1080p", "480p", "720p", "source"])
        policy.apply(.medium, to: control)
        #expect(control.snapshot.disabled == ["1080p", "source"])
        policy.apply(.high, to: control)
        #expect(control.snapshot.disabled.isEmpty)
    }

    @Test func healthStaysWithinZeroToAHundred() {
        let values: [Double?] = [nil, 0, 0.01, 0.5, 1, 2, 1e9, 1e300, -1, .nan, .infinity, -.infinity]
        for level in QualityState.allCases {
            for loss in values {
                for bandwidth in values {
                    for rtt in values {
                        let score = QualityHealth.score(
                            level: level,
                            figures: QualityFigures(
                                lossRate: loss, bandwidth: bandwidth.map { $0 * 1e6 }, rttMilliseconds: rtt.map { $0 * 100 }))
                        #expect((0...100).contains(score))
                    }
                }
            }
        }
        #expect(QualityHealth.score(level: .high, figures: QualityFeed.good) == 100)
        #expect(QualityHealth.score(level: .high, figures: nil) == 100)
        #expect(QualityHealth.score(level: .error, figures: QualityFigures(lossRate: 1, bandwidth: 0, rttMilliseconds: 10_000)) == 0)
    }

    @Test func healthFollowsTheFormula() {
        // HIGH, 2 % loss (−16), 300 ms (−10), 2.5 Mbps against the 5 Mbps floor (−10).
        #expect(QualityHealth.score(level: .high, figures: .init(lossRate: 0.02, bandwidth: 2_500_000, rttMilliseconds: 300)) == 64)
        #expect(QualityHealth.score(level: .medium, figures: .init(lossRate: 0, bandwidth: 4e6, rttMilliseconds: 50)) == 90)
        #expect(QualityHealth.score(level: .veryLow, figures: .init(lossRate: 0.05)) == 15)
        // Worse figures never raise it.
        var previous = 101
        for loss in stride(from: 0.0, through: 0.1, by: 0.005) {
            let score = QualityHealth.score(level: .low, figures: .init(lossRate: loss, bandwidth: 1e6, rttMilliseconds: 200))
            #expect(score <= previous)
            previous = score
        }
        var machine = QualityStateMachine()
        _ = machine.observe(QualitySample(time: QualityFeed.origin, duration: 1, figures: .init(lossRate: 0.01)))
        #expect(machine.health == 92)
    }
}
