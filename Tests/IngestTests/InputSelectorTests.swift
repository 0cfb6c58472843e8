import Media
import Testing

@testable import Ingest

/// The input selector's decisions, on a hand-driven clock: which input plays, when it switches and
/// why, and that the output timeline stays continuous across switches.
@Suite struct InputSelectorTests {
    static let video = TrackInfo(kind: .video, codec: .h264, timebase: .milliseconds, width: 640, height: 360)
    static let audio = TrackInfo(kind: .audio, codec: .aac, timebase: .milliseconds, sampleRate: 48_000, channels: 2)

    /// `count` frames at 30 fps from `start` ms (a keyframe every 30), each with an audio packet.
    static func media(from start: Int64, count: Int, keyframeEvery: Int = 30, first: Int = 0) -> [MediaItem] {
        (0..<count).flatMap { index -> [MediaItem] in
            let dts = start + Int64(index) * 33
            return [
                .packet(
                    MediaPacket(
                        track: .video, pts: dts, dts: dts, timebase: .milliseconds, isKeyframe: (first + index) % keyframeEvery == 0,
                        data: [1])),
                .packet(MediaPacket(track: .audio, pts: dts, dts: dts, timebase: .milliseconds, isKeyframe: true, data: [2])),
            ]
        }
    }

    static func videoDTS(_ items: [MediaItem]) -> [Int64] {
        items.packets.filter { $0.track == .video }.map(\.dts)
    }

    var clock = ContinuousClock.now

    @Test func theFirstInputPlaysFromItsFirstKeyframeWithItsOwnTimestamps() {
        var selector = InputSelector()
        selector.connected(.primary)
        let before = selector.receive(
            [.track(Self.video), .track(Self.audio)] + Self.media(from: 0, count: 5, first: 1), from: .primary, now: clock)
        #expect(before.items.isEmpty, "nothing plays before a keyframe")
        let first = selector.receive(Self.media(from: 1000, count: 3), from: .primary, now: clock)
        #expect(first.switched?.to == .primary && first.switched?.from == nil)
        #expect(first.items.trackInfos.count == 2)
        let firstDTS: [Int64] = [1000, 1033, 1066]
        #expect(Self.videoDTS(first.items) == firstDTS)
        #expect(!first.items.contains { if case .discontinuity = $0 { true } else { false } })
        let next = selector.receive(Self.media(from: 1099, count: 2, first: 3), from: .primary, now: clock)
        let nextDTS: [Int64] = [1099, 1132]
        #expect(next.fromCaller && Self.videoDTS(next.items) == nextDTS)
    }

    @Test func theBackupTakesOverAtOnceWhenThePrimaryDisconnectsAndTheTimelineGoesOn() {
        var selector = InputSelector()
        selector.connected(.primary)
        selector.connected(.backup)
        _ = selector.receive([.track(Self.video), .track(Self.audio)] + Self.media(from: 0, count: 40), from: .primary, now: clock)
        // The backup's clock is its own: it started 50 s earlier; its latest keyframe is frame 30.
        let backup = selector.receive(
            [.track(Self.video), .track(Self.audio)] + Self.media(from: 50_000, count: 40), from: .backup, now: clock + .milliseconds(10))
        #expect(backup.items.isEmpty && !backup.fromCaller, "the backup waits while the primary plays")
        let switched = selector.disconnected(.primary, now: clock + .milliseconds(20))
        #expect(switched.switched?.from == .primary && switched.switched?.to == .backup)
        #expect(switched.switched?.reason == .inputDisconnected && switched.switched?.discontinuity == false)
        // Frames from the backup's latest keyframe, placed right after the primary's last frame (39 × 33 ms).
        let expected: [Int64] = (0..<10).map { 1320 + Int64($0) * 33 }
        #expect(Self.videoDTS(switched.items) == expected)
        #expect(switched.items.trackInfos.isEmpty, "same parameters: no new track")
        let later = selector.receive(Self.media(from: 50_000 + 40 * 33, count: 1, first: 40), from: .backup, now: clock)
        let laterDTS: [Int64] = [1650]
        #expect(later.fromCaller && Self.videoDTS(later.items) == laterDTS)
    }

    @Test func framesOfTheBackupThatShowWhatWasShownAreDecodedButNotShown() {
        var selector = InputSelector()
        selector.connected(.primary)
        selector.connected(.backup)
        _ = selector.receive([.track(Self.video), .track(Self.audio)] + Self.media(from: 0, count: 40), from: .primary, now: clock)
        // The backup's frames 30-36 arrived before the primary's last; 37-39 after it.
        _ = selector.receive(
            [.track(Self.video), .track(Self.audio)] + Self.media(from: 0, count: 37), from: .backup, now: clock - .milliseconds(100))
        _ = selector.receive(Self.media(from: 37 * 33, count: 3, first: 37), from: .backup, now: clock + .milliseconds(10))
        let switched = selector.disconnected(.primary, now: clock + .milliseconds(20))
        let video = switched.items.packets.filter { $0.track == .video }
        let decodeOnly = Array(repeating: true, count: 7) + [false, false, false]
        #expect(video.map(\.decodeOnly) == decodeOnly)
        #expect(video.first?.isKeyframe == true)
        let shown: [Int64] = [1320, 1353, 1386]
        #expect(video.filter { !$0.decodeOnly }.map(\.dts) == shown, "the first new frame follows the primary's last")
        #expect(video.filter(\.decodeOnly).allSatisfy { $0.dts < 1320 })
        let audio = switched.items.packets.filter { $0.track == .audio }.map(\.dts)
        #expect(audio == shown, "audio already heard is left out")
    }

    @Test func theBackupsVideoFollowsTheLastVideoFrameEvenWhenAudioRanAhead() {
        var selector = InputSelector()
        selector.connected(.primary)
        selector.connected(.backup)
        let ahead: [MediaItem] = (0..<40).map {
            .packet(
                MediaPacket(
                    track: .audio, pts: Int64($0) * 33 + 50, dts: Int64($0) * 33 + 50, timebase: .milliseconds, isKeyframe: true, data: [2])
            )
        }
        let video = Self.media(from: 0, count: 40).filter { if case .packet(let p) = $0 { p.track == .video } else { true } }
        _ = selector.receive([.track(Self.video), .track(Self.audio)] + video + ahead, from: .primary, now: clock)
        _ = selector.receive(
            [.track(Self.video), .track(Self.audio)] + Self.media(from: 0, count: 31), from: .backup, now: clock + .milliseconds(10))
        let switched = selector.disconnected(.primary, now: clock + .milliseconds(20))
        let first = switched.items.packets.first { $0.track == .video }
        #expect(first?.dts == 1320, "on the video's own cadence, not after the audio's end: \(String(describing: first?.dts))")
    }

    @Test func aStalledPrimaryIsLeftForTheBackupAfterTheThreshold() {
        var selector = InputSelector(options: .init(stallAfter: .milliseconds(1000), switchBackAfter: .seconds(5)))
        selector.connected(.primary)
        selector.connected(.backup)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 31), from: .primary, now: clock)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 31), from: .backup, now: clock)
        let early = selector.receive(Self.media(from: 1023, count: 1, first: 31), from: .backup, now: clock + .milliseconds(900))
        #expect(early.switched == nil)
        let late = selector.receive(Self.media(from: 1056, count: 1, first: 32), from: .backup, now: clock + .milliseconds(1100))
        #expect(late.switched?.to == .backup && late.switched?.reason == .inputStalled)
        #expect(late.switched?.silent == .milliseconds(1100))
        // The primary's late frames no longer play.
        let stale = selector.receive(Self.media(from: 1023, count: 1, first: 31), from: .primary, now: clock + .milliseconds(1200))
        #expect(stale.items.isEmpty)
    }

    @Test func theClockAloneSwitchesAwayFromASilentInput() {
        var selector = InputSelector(options: .init(stallAfter: .milliseconds(1000), switchBackAfter: .seconds(5)))
        selector.connected(.primary)
        selector.connected(.backup)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 31), from: .primary, now: clock)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 31), from: .backup, now: clock + .milliseconds(600))
        #expect(selector.tick(now: clock + .milliseconds(900)).switched == nil)
        let switched = selector.tick(now: clock + .milliseconds(1100))
        #expect(switched.switched?.to == .backup && switched.switched?.reason == .inputStalled)
        #expect(selector.tick(now: clock + .milliseconds(1200)).switched == nil, "the backup plays and is not silent")
    }

    @Test func thePrimaryReturnsAtAKeyframeOnceHealthyForTheSwitchBackDelay() {
        var selector = InputSelector(options: .init(stallAfter: .milliseconds(1000), switchBackAfter: .seconds(2)))
        selector.connected(.backup)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 30), from: .backup, now: clock)
        selector.connected(.primary)
        var now = clock
        var switched: InputSelector.Switch?
        for second in 0..<4 {
            now = clock + .seconds(second)
            let items = (second == 0 ? [.track(Self.video)] : []) + Self.media(from: Int64(second) * 1000, count: 30)
            _ = selector.receive(Self.media(from: 990 + Int64(second) * 1000, count: 1, first: 1), from: .backup, now: now)
            if let result = selector.receive(items, from: .primary, now: now).switched { switched = result }
            if switched != nil { break }
        }
        #expect(switched?.to == .primary && switched?.reason == .primaryRecovered)
        #expect(now - clock == .seconds(2), "healthy since second 0, back at the keyframe of second 2")
    }

    @Test func aQualityErrorPlaysTheHealthyBackupAndHoldsThePrimaryOff() {
        var selector = InputSelector(options: .init(stallAfter: .milliseconds(1000), switchBackAfter: .seconds(1)))
        selector.connected(.primary)
        selector.connected(.backup)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 30), from: .primary, now: clock)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 30), from: .backup, now: clock)
        let failed = selector.qualityFailed(now: clock)
        #expect(failed.switched?.to == .backup && failed.switched?.reason == .qualityError)
        // Healthy and at a keyframe 2 and 4 s later, the primary is still held off (30 s).
        for (second, from) in [(2, Int64(1000)), (3, 2000), (4, 3000)] {
            _ = selector.receive(Self.media(from: from, count: 30), from: .backup, now: clock + .seconds(second))
            let held = selector.receive(Self.media(from: from, count: 30), from: .primary, now: clock + .seconds(second))
            #expect(held.switched == nil, "switched at \(second) s")
        }
    }

    @Test func theSlatePlaysWhenEveryInputIsGoneAndTheReturningInputFollowsIt() {
        var selector = InputSelector()
        selector.connected(.primary)
        _ = selector.receive([.track(Self.video), .track(Self.audio)] + Self.media(from: 0, count: 30), from: .primary, now: clock)
        let gone = selector.disconnected(.primary, now: clock)
        #expect(gone.items.isEmpty && gone.switched == nil)
        let slateVideo = TrackInfo(kind: .video, codec: .h264, timebase: Timebase(1, 90_000), width: 640, height: 360, frameRate: 30)
        let started = selector.startSlate(tracks: [slateVideo])
        #expect(started.switched?.to == .slate && started.switched?.discontinuity == false)
        #expect(started.items.trackInfos.first?.timebase == .milliseconds, "the slate's track is in the output's timebase")
        let slate = selector.slate([
            MediaPacket(track: .video, pts: 0, dts: 0, timebase: Timebase(1, 90_000), isKeyframe: true, data: [3]),
            MediaPacket(track: .video, pts: 2970, dts: 2970, timebase: Timebase(1, 90_000), isKeyframe: false, data: [3]),
        ])
        let slateDTS: [Int64] = [990, 1023]
        #expect(Self.videoDTS(slate) == slateDTS)
        selector.connected(.primary)
        let back = selector.receive([.track(Self.video), .track(Self.audio)] + Self.media(from: 0, count: 2), from: .primary, now: clock)
        #expect(back.switched?.from == .slate && back.switched?.to == .primary && back.switched?.reason == .inputAvailable)
        let backDTS: [Int64] = [1056, 1089]
        #expect(Self.videoDTS(back.items) == backDTS)
        #expect(
            selector.slate([MediaPacket(track: .video, pts: 6000, dts: 6000, timebase: Timebase(1, 90_000), isKeyframe: false, data: [3])])
                .isEmpty)
    }

    @Test func anInputReturningAfterNothingPlayedIsADiscontinuity() {
        var selector = InputSelector()
        selector.connected(.primary)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 30), from: .primary, now: clock)
        _ = selector.disconnected(.primary, now: clock)
        selector.connected(.primary)
        let back = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 1), from: .primary, now: clock + .seconds(3))
        #expect(back.switched?.discontinuity == true)
        guard case .discontinuity? = back.items.first else {
            Issue.record("no discontinuity first: \(back.items)")
            return
        }
        let resumedDTS: [Int64] = [990]
        #expect(Self.videoDTS(back.items) == resumedDTS)
    }

    @Test func aBufferBeyondItsLimitWaitsForTheNextKeyframe() {
        var options = InputSelector.Options()
        options.maxBufferedBytes = 100
        var selector = InputSelector(options: options)
        selector.connected(.primary)
        selector.connected(.backup)
        _ = selector.receive([.track(Self.video)] + Self.media(from: 0, count: 1), from: .primary, now: clock)
        let big = MediaItem.packet(
            MediaPacket(track: .video, pts: 0, dts: 0, timebase: .milliseconds, isKeyframe: true, data: [UInt8](repeating: 0, count: 200)))
        _ = selector.receive([.track(Self.video), big], from: .backup, now: clock)
        #expect(selector.inputs[.backup]?.buffered.isEmpty == true)
        #expect(selector.disconnected(.primary, now: clock).switched == nil, "nothing playable in the backup yet")
    }

    @Test func theSlateLoopRepeatsItsClipWithTimestampsThatKeepGoing() {
        let clip = SlateClip(
            tracks: [Self.video],
            packets: (0..<3).map {
                MediaPacket(
                    track: .video, pts: Int64($0) * 100, dts: Int64($0) * 100, timebase: .milliseconds, isKeyframe: $0 == 0, data: [1])
            },
            duration: .milliseconds(300))
        var loop = SlateLoop(clip: clip)
        #expect(loop.packets(through: .milliseconds(150)).map(\.dts) == [0, 100])
        #expect(loop.packets(through: .milliseconds(650)).map(\.dts) == [200, 300, 400, 500, 600])
        #expect(loop.packets(through: .milliseconds(650)).isEmpty)
    }
}
