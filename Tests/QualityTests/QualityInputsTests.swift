import Foundation
import Testing
import Transcode

@testable import Ingest
@testable import Quality

@Suite("Quality inputs from ingest statistics")
struct QualityInputsTests {
    static func started(frameRate: Double? = 30, bitrate: Int? = 6_000_000, video: Bool = true) -> StreamStarted {
        StreamStarted(
            sessionID: "s", channelID: "c", channelName: "demo", remoteAddress: "127.0.0.1",
            description: StreamDescription(
                video: video ? .init(codec: "avc1", width: 1920, height: 1080, frameRate: frameRate, bitrate: bitrate) : nil,
                audio: .init(codec: "mp4a", sampleRate: 48_000, channels: 2, bitrate: 160_000), encoder: "test"))
    }

    static func rtmp(bitrate: Int = 6_100_000, fps: Double = 30, late: Int = 0, dropped: Int = 0, lag: Int64? = 1_000) -> IngestStats {
        var stats = IngestStats()
        stats.intervalSeconds = 1
        stats.receivedBitrate = bitrate
        stats.videoFrameRate = fps
        stats.audioFrameRate = 46.875
        stats.lateFrames = late
        stats.droppedFrames = dropped
        stats.timestampLagMilliseconds = lag
        return stats
    }

    @Test func aHealthyRTMPStreamHasNoLossNoDelayAndNoBandwidthLimit() {
        var inputs = QualityInputs(started: Self.started())
        let figures = inputs.figures(for: Self.rtmp())
        #expect(figures == QualityFigures(lossRate: 0, bandwidth: nil, rttMilliseconds: 0))
        // A 2.5 Mbps encoder that delivers all it declared is not held back either.
        var small = QualityInputs(started: Self.started(bitrate: 2_500_000))
        #expect(small.figures(for: Self.rtmp(bitrate: 2_600_000)).bandwidth == nil)
    }

    @Test func missingFramesAgainstTheDeclaredRateAreLoss() throws {
        var inputs = QualityInputs(started: Self.started())
        _ = inputs.figures(for: Self.rtmp())
        let figures = inputs.figures(for: Self.rtmp(fps: 24))
        #expect(abs(try #require(figures.lossRate) - 0.2) < 1e-9)
        // Congested: the received rate is now the bandwidth.
        #expect(figures.bandwidth == 6_100_000)
        // A camera that declares 60 but never sends more than 30 is not losing half its frames.
        var liar = QualityInputs(started: Self.started(frameRate: 60))
        for _ in 0..<5 { #expect(liar.figures(for: Self.rtmp()).lossRate == 0) }
        // Without a declared rate only damaged frames count.
        var undeclared = QualityInputs(started: Self.started(frameRate: nil))
        #expect(undeclared.figures(for: Self.rtmp(fps: 10)).lossRate == 0)
        let damaged = undeclared.figures(for: Self.rtmp(fps: 30, late: 3, dropped: 4))
        #expect(abs(try #require(damaged.lossRate) - 7.0 / (76.875 + 4)) < 1e-9)
    }

    @Test func growingTimestampLagIsQueueingDelay() {
        var inputs = QualityInputs(started: Self.started())
        #expect(inputs.figures(for: Self.rtmp(lag: 1_200)).rttMilliseconds == 0)
        #expect(inputs.figures(for: Self.rtmp(lag: 1_100)).rttMilliseconds == 0)
        let queued = inputs.figures(for: Self.rtmp(lag: 1_500))
        #expect(queued.rttMilliseconds == 400)
        #expect(queued.bandwidth == 6_100_000, "a sender held back shows the link's bandwidth")
        // Timestamps going backwards, or a reconnect, restart the baseline.
        #expect(inputs.figures(for: Self.rtmp(late: 1, lag: 5_000)).rttMilliseconds == 0)
        inputs.reconnected()
        #expect(inputs.figures(for: Self.rtmp(lag: 100)).rttMilliseconds == 0)
    }

    @Test func anEncoderSendingLessThanHalfItsDeclaredBitrateIsStarved() {
        var inputs = QualityInputs(started: Self.started())
        #expect(inputs.figures(for: Self.rtmp(bitrate: 2_000_000)).bandwidth == 2_000_000)
    }

    /// One SRT interval as libsrt reports it (`srt_bstats` with clear).
    static func srt(
        received: Int = 570, lost: Int = 0, rtt: Double = 0.4, rate: Double = 6.1, bandwidth: Double = 940, dropped: Int = 0
    ) -> IngestStats {
        var stats = rtmp(lag: nil)
        var link = SRTLinkStatistics()
        link.packetsReceived = received
        link.packetsLost = lost
        link.packetsDropped = dropped
        link.rttMilliseconds = rtt
        link.receiveRateMbps = rate
        link.bandwidthMbps = bandwidth
        stats.srt = link
        return stats
    }

    @Test func srtFiguresAreTakenAsLibsrtMeasuredThem() {
        var inputs = QualityInputs(started: Self.started(frameRate: nil, bitrate: nil))
        // Healthy loopback: no loss, sub-millisecond RTT, the link's estimated capacity.
        #expect(inputs.figures(for: Self.srt()) == QualityFigures(lossRate: 0, bandwidth: 940_000_000, rttMilliseconds: 0.4))
        // Loss is packets found missing over all packets of the interval, recovered or not; a
        // congested link's bandwidth is what arrived, whatever libsrt's capacity estimate says.
        let lossy = inputs.figures(for: Self.srt(received: 480, lost: 20, rtt: 85, rate: 3.0, bandwidth: 1_079))
        #expect(lossy.lossRate == 0.04)
        #expect(lossy.rttMilliseconds == 85)
        #expect(lossy.bandwidth == 3_000_000)
        // High RTT alone is congestion too.
        #expect(inputs.figures(for: Self.srt(rtt: 400, rate: 2.5, bandwidth: 900)).bandwidth == 2_500_000)
    }

    @Test func srtBandwidthIsNeverBelowWhatArrived() {
        var inputs = QualityInputs(started: Self.started())
        #expect(inputs.figures(for: Self.srt(rate: 3.2, bandwidth: 1.1)).bandwidth == 3_200_000)
    }

    @Test func srtFiguresOverruleTheRTMPDerivation() {
        // A lagging timestamp or missing frames say nothing about an SRT link: libsrt measured it.
        var inputs = QualityInputs(started: Self.started())
        var stats = Self.srt()
        stats.timestampLagMilliseconds = 9_000
        stats.videoFrameRate = 10
        stats.droppedFrames = 30
        _ = inputs.figures(for: Self.srt())
        #expect(inputs.figures(for: stats) == QualityFigures(lossRate: 0, bandwidth: 940_000_000, rttMilliseconds: 0.4))
    }

    @Test func srtWithoutABandwidthEstimateIsUnknownUnlessCongested() {
        var inputs = QualityInputs(started: Self.started(frameRate: nil, bitrate: nil))
        #expect(inputs.figures(for: Self.srt(bandwidth: 0)).bandwidth == nil)
        #expect(inputs.figures(for: Self.srt(lost: 30, rate: 0.9, bandwidth: 0)).bandwidth == 900_000)
    }

    @Test func anImpairedSRTLinkTakesTheMachineDownAndItsRecoveryBringsItBack() {
        // What a 1 Mbit/s bottleneck under a 3.5 Mbit/s publish looks like to libsrt, then the
        // bottleneck removed: the machine fed through this mapping goes down, then climbs back.
        var inputs = QualityInputs(started: Self.started(frameRate: nil, bitrate: nil))
        var thresholds = QualityThresholds.default
        thresholds.stableSeconds = 10
        thresholds.probeSeconds = 2
        var machine = QualityStateMachine(thresholds: thresholds)
        var states: [QualityState] = []
        let start = Date(timeIntervalSinceReferenceDate: 1_000)
        for second in 0..<100 {
            // Measured through a 1 Mbit/s tbf on veth: ~75 % loss, RTT ~49 ms, 0.97 Mbit/s arriving,
            // libsrt's capacity estimate still ~1.1 Gbit/s.
            let stats =
                second < 20
                ? Self.srt(received: 110, lost: 350, rtt: 49, rate: 0.97, bandwidth: 1_100, dropped: 320)
                : Self.srt()
            let sample = QualitySample(time: start.addingTimeInterval(Double(second + 1)), duration: 1, figures: inputs.figures(for: stats))
            states += machine.observe(sample).map(\.to)
        }
        #expect(states.first == .veryLow, "\(states)")
        #expect(states.last == .high, "\(states)")
        #expect(states.contains(.recovery))
        #expect(!states.contains(.error), "1 Mbit/s still carries video: \(states)")
    }

    @Test func absurdStatisticsNeverTrap() {
        var inputs = QualityInputs(started: Self.started())
        var stats = IngestStats()
        stats.intervalSeconds = .infinity
        stats.videoFrameRate = .nan
        stats.audioFrameRate = -5
        stats.lateFrames = Int.max
        stats.droppedFrames = Int.min
        stats.receivedBitrate = Int.min
        stats.timestampLagMilliseconds = Int64.min
        let figures = inputs.figures(for: stats)
        #expect(figures.lossRate.map { (0...1).contains($0) } == true)
        _ = inputs.figures(for: Self.rtmp(lag: Int64.max))
        var session = QualitySession(started: Self.started(), at: Date(), thresholds: .default)
        stats.intervalSeconds = -.infinity
        _ = session.sampled(stats)
    }
}

@Suite("RTMP timestamp lag")
struct TimestampLagTests {
    @Test func lagGrowsOnlyWhileMediaArrivesSlowerThanRealTime() {
        var accumulator = IngestStatsAccumulator()
        var lags: [Int64?] = []
        lags.append(accumulator.sample(totalBytes: 0, interval: .seconds(1), queueDepth: 0, backpressured: false).timestampLagMilliseconds)
        // Real time: one second of media per second.
        var dts: Int64 = 0
        for _ in 0..<3 {
            for _ in 0..<30 { accumulator.record(track: .video, dts: dts); dts += 33 }
            lags.append(
                accumulator.sample(totalBytes: 0, interval: .seconds(1), queueDepth: 0, backpressured: false).timestampLagMilliseconds)
        }
        // Half speed: half a second of media per second.
        for _ in 0..<2 {
            for _ in 0..<15 { accumulator.record(track: .video, dts: dts); dts += 33 }
            lags.append(
                accumulator.sample(totalBytes: 0, interval: .seconds(1), queueDepth: 0, backpressured: false).timestampLagMilliseconds)
        }
        #expect(lags[0] == nil, "no media yet")
        let steady = lags[1...3].compactMap { $0 }
        #expect(steady.count == 3 && (steady.max() ?? 0) - (steady.min() ?? 0) <= 40)
        let slow = lags[4...5].compactMap { $0 }
        #expect(slow.count == 2 && slow[0] - steady[2] >= 450 && slow[1] - slow[0] >= 450)
    }
}
