import Foundation
import Media
import Testing

@testable import Transcode

@Suite("Ladder policy (sans-I/O)")
struct PolicyTests {
    @Test func planSkipsRungsAboveSourceAndKeepsAspectRatio() {
        let plans = PlannedRung.plan(.default, sourceWidth: 1280, sourceHeight: 720, sourceFrameRate: 30)
        #expect(plans.map(\.name) == ["720p", "480p", "360p"])
        #expect(plans.map(\.width) == [1280, 854, 640])
        #expect(plans.map(\.height) == [720, 480, 360])
        #expect(plans.map(\.frameRate) == [30, 24, 24])
        #expect(plans.map(\.dropsFrames) == [false, true, true])
        let portrait = PlannedRung.plan(.default, sourceWidth: 1080, sourceHeight: 1920, sourceFrameRate: 24)
        #expect(portrait.map(\.height) == [1080, 720, 480, 360])
        #expect(portrait.allSatisfy { $0.width % 2 == 0 && !$0.dropsFrames })
        #expect(PlannedRung.plan(.default, sourceWidth: 320, sourceHeight: 240, sourceFrameRate: 30).isEmpty)
    }

    @Test func frameRateFilterThinsThirtyToTwentyFourOnAFixedGrid() {
        var filter = FrameRateFilter(frameRate: 24, timebase: Timebase(1, 15360))
        let kept = (0..<30).filter { filter.admit(pts: Int64($0) * 512) }
        #expect(kept.count == 24)
        #expect(!kept.contains(1) && !kept.contains(6))
        var again = FrameRateFilter(frameRate: 24, timebase: Timebase(1, 15360))
        #expect((0..<30).filter { again.admit(pts: Int64($0) * 512) } == kept)
        var forced = FrameRateFilter(frameRate: 24, timebase: Timebase(1, 15360))
        _ = forced.admit(pts: 0)
        do { let result = forced.admit(pts: 512, force: true); #expect(result) }
    }

    @Test func scheduleChoosesPassthroughWhenKeyframesComeWithinFourSeconds() {
        var schedule = KeyframeSchedule(timebase: .milliseconds, keyframeInterval: 2, maxPassthroughInterval: 4, canPassThrough: true)
        var decisions: [KeyframeSchedule.Decision] = []
        var idrs: [Int64] = []
        for frame in 0..<150 {
            let pts = Int64(frame) * 1000 / 30
            if let d = schedule.observePacket(pts: pts, isKeyframe: frame % 45 == 0) { decisions.append(d) }
            if schedule.isIDR(framePTS: pts) { idrs.append(pts) }
        }
        #expect(decisions == [.passthrough])
        #expect(idrs == [0, 1500, 3000, 4500])
    }

    @Test func aPassthroughWhoseKeyframesGrowSparseSwitchesToTheGridForGood() {
        var schedule = KeyframeSchedule(timebase: .milliseconds, keyframeInterval: 2, maxPassthroughInterval: 4, canPassThrough: true)
        var decisions: [(Int64, KeyframeSchedule.Decision)] = []
        var idrs: [Int64] = []
        // Keyframes every 2 s up to 4 s, then every 10 s (an encoder whose settings changed).
        for frame in 0..<450 {
            let pts = Int64(frame) * 1000 / 30
            let keyframe = frame <= 120 ? frame % 60 == 0 : frame % 300 == 0
            if let d = schedule.observePacket(pts: pts, isKeyframe: keyframe) { decisions.append((pts, d)) }
            if schedule.isIDR(framePTS: pts) { idrs.append(pts) }
        }
        #expect(decisions.map(\.1) == [.passthrough, .transcode])
        #expect(decisions.last?.0 == 8033, "the first frame more than 4 s after the last source keyframe")
        #expect(schedule.mode == .grid)
        // Source keyframes until the switch, then at once a grid anchored there.
        #expect(idrs == [0, 2000, 4000, 8033, 10033, 12033, 14033])
        // Later source keyframes (10 s here) no longer matter, nor does a restart.
        schedule.restart()
        #expect(schedule.observePacket(pts: 20_000, isKeyframe: true) == nil && schedule.mode == .grid)
    }

    @Test func scheduleFallsBackToATwoSecondGridForSparseKeyframes() {
        var schedule = KeyframeSchedule(timebase: .milliseconds, keyframeInterval: 2, maxPassthroughInterval: 4, canPassThrough: true)
        var decisions: [KeyframeSchedule.Decision] = []
        var idrs: [Int64] = []
        for frame in 0..<300 {
            let pts = Int64(frame) * 1000 / 30
            if let d = schedule.observePacket(pts: pts, isKeyframe: frame % 250 == 0) { decisions.append(d) }
            if schedule.isIDR(framePTS: pts) { idrs.append(pts) }
        }
        #expect(decisions == [.transcode])
        #expect(idrs == [0, 4033, 6033, 8033])
        var hevc = KeyframeSchedule(timebase: .milliseconds, keyframeInterval: 2, maxPassthroughInterval: 4, canPassThrough: false)
        #expect(hevc.mode == .grid)
        let gridIDRs = (0..<130).map { Int64($0) * 1000 / 30 }.filter { hevc.isIDR(framePTS: $0) }
        #expect(gridIDRs == [0, 2000, 4000])
    }

    /// A source whose frames moved on the grid (a switch to a backup encoder) must not get an IDR
    /// a frame early: the segment before it would be shorter than the packager cuts.
    @Test func anIDRNeverComesSoonerThanTheGridLessASlack() {
        var schedule = KeyframeSchedule(timebase: .milliseconds, keyframeInterval: 2, maxPassthroughInterval: 4, canPassThrough: false)
        let frames: [Int64] = [0, 1000, 2032, 3000, 4000, 4033, 5000, 6033]
        let idrs = frames.filter { schedule.isIDR(framePTS: $0) }
        #expect(idrs == [0, 2032, 4033, 6033])
    }

    @Test func governorShedsLowestPriorityAndRestoresAfterHeadroom() {
        var governor = OverloadGovernor(configuration: .init(maxBacklog: 1, resumeBacklog: 0.25, settleTime: 2, headroomTime: 5))
        let all = [OverloadGovernor.Candidate(name: "720p", priority: 1), .init(name: "360p", priority: 3)]
        do { let result = governor.observe(now: 0, backlog: 0.5, candidates: all, keepOne: true); #expect(result == nil) }
        do { let result = governor.observe(now: 1, backlog: 1.5, candidates: all, keepOne: true); #expect(result == .stop("720p")) }
        do { let result = governor.observe(now: 2, backlog: 1.5, candidates: [all[1]], keepOne: true); #expect(result == nil) }
        do { let result = governor.observe(now: 4, backlog: 1.5, candidates: [all[1]], keepOne: true); #expect(result == nil) }
        do { let result = governor.observe(now: 5, backlog: 0.1, candidates: [all[1]], keepOne: true); #expect(result == nil) }
        do { let result = governor.observe(now: 9, backlog: 0.1, candidates: [all[1]], keepOne: true); #expect(result == nil) }
        do {
            let result = governor.observe(now: 10, backlog: 0.1, candidates: [all[1]], keepOne: true); #expect(result == .restart("720p"))
        }
        do { let result = governor.observe(now: 13, backlog: 2, candidates: all, keepOne: true); #expect(result == .stop("720p")) }
        // Shed again soon after its restart: the next restore waits twice as long.
        do { let result = governor.observe(now: 20, backlog: 0, candidates: [all[1]], keepOne: true); #expect(result == nil) }
        do { let result = governor.observe(now: 24, backlog: 0, candidates: [all[1]], keepOne: true); #expect(result == nil) }
        do { let result = governor.observe(now: 30, backlog: 0, candidates: [all[1]], keepOne: true); #expect(result == .restart("720p")) }
    }

    @Test func gateStartsOnlyOnIDRAndReportsReasons() {
        var gate = RenditionGate()
        do { let result = gate.admit(isIDR: false).deliver; #expect(result == false) }
        let first = gate.admit(isIDR: true)
        #expect(first.deliver && first.forceIDR && first.transition == .started(.streamStarted))
        do { let result = gate.setEnabled(false); #expect(result == .stopped(.disabled)) }
        do { let result = gate.admit(isIDR: true).deliver; #expect(result == false) }
        do { let result = gate.setEnabled(true); #expect(result == nil) }
        do { let result = gate.admit(isIDR: false).deliver; #expect(result == false) }
        do { let result = gate.admit(isIDR: true).transition; #expect(result == .started(.enabled)) }
        do { let result = gate.shed(); #expect(result == .stopped(.overload)) }
        do { let result = gate.restore(); #expect(result == nil) }
        do { let result = gate.admit(isIDR: true).transition; #expect(result == .started(.headroomRestored)) }
    }

    @Test func annexBBecomesLengthPrefixed() {
        let annexB: [UInt8] = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9, 9]
        #expect(AnnexB.lengthPrefixed(annexB) == [0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 4, 0x65, 9, 9, 9])
    }

    @Test func eventsRoundTripThroughJSON() throws {
        let configured = LadderConfigured(channel: "c1", ladder: .default)
        let data = try JSONEncoder().encode(configured)
        #expect(try JSONDecoder().decode(LadderConfigured.self, from: data) == configured)
        let stopped = RenditionStopped(
            channel: "c1", rendition: "720p", kind: .video, width: 1280, height: 720, bitrate: 2_500_000, reason: .overload,
            presentationTime: 12.5)
        let json = String(decoding: try JSONEncoder().encode(stopped), as: UTF8.self)
        #expect(json.contains("\"reason\":\"overload\""))
        #expect(try JSONDecoder().decode(RenditionStopped.self, from: Data(json.utf8)) == stopped)
        #expect(RenditionStarted.eventType == "RenditionStarted" && TranscodeFailed.eventType == "TranscodeFailed")
    }

    /// A frame the encoder thread has taken must be freed when it is done with it, not when the
    /// queue next compacts: held frames keep their pictures (megabytes each) alive.
    @Test func aPoppedItemIsReleasedAtOnce() {
        final class Payload: Sendable {}
        let queue = FrameQueue<Payload>(capacity: 8)
        weak var first: Payload?
        do {
            let payload = Payload()
            first = payload
            queue.put(payload)
            queue.put(Payload())
        }
        #expect(first != nil)
        _ = queue.pop()
        #expect(first == nil)
        #expect(queue.count == 1)
        for _ in 0..<200 {
            queue.put(Payload())
            _ = queue.pop()
        }
        #expect(queue.count == 1)
        queue.close()
        #expect(queue.pop() != nil)
        #expect(queue.pop() == nil)
    }
}
