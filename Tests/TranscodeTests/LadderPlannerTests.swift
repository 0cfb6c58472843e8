import EventStore
import Media
import Testing

@testable import Transcode

@Suite("Ladder planner (sans-I/O)")
struct LadderPlannerTests {
    static let record = AVCDecoderConfigurationRecord(
        profileIndication: 0x64, profileCompatibility: 0, levelIndication: 0x28,
        sequenceParameterSets: [[0x67]], pictureParameterSets: [[0x68]]
    )

    static func h264(width: Int = 1920, height: Int = 1080, configured: Bool = true) -> TrackInfo {
        TrackInfo(
            kind: .video, codec: .h264, configuration: configured ? .avc(record) : nil, timebase: .milliseconds,
            width: width, height: height, frameRate: 30, bitrate: 6_000_000
        )
    }

    static func hevc(width: Int, height: Int) -> TrackInfo {
        TrackInfo(kind: .video, codec: .hevc, timebase: .milliseconds, width: width, height: height, frameRate: 30)
    }

    /// Presentation time of frame `n` at 30 fps, in milliseconds.
    static func ms(_ n: Int) -> Int64 { Int64(n) * 1000 / 30 }

    static let small = Ladder(
        rungs: [
            Rung(name: "360p", height: 360, frameRate: 30, bitrate: 800_000, priority: 0),
            Rung(name: "180p", height: 180, frameRate: 30, bitrate: 200_000, profile: .main, priority: 1),
        ], allowsPassthrough: false)

    static let failure = LibavError("avcodec_send_frame(libx264 180p)", code: -22)

    /// Runs the planner as the pipeline does, with encoders that always open, and records what it asked for.
    struct Harness {
        struct Delivery: Equatable {
            var pts: Int64
            var forceIDR: Bool
        }

        var planner: LadderPlanner
        var control = Transcoder.ControlState()
        var started: [(name: String, threads: Int)] = []
        var opened: [String] = []
        var forwarded: [Int64] = []
        var retired = 0
        var shed: [String] = []
        var events: [any DomainEvent] = []
        var delivered: [String: [Delivery]] = [:]
        var failures: [String: LibavError] = [:]

        init(ladder: Ladder = .default, options: TranscodeOptions = TranscodeOptions(overload: nil), track: TrackInfo? = nil) {
            planner = LadderPlanner(channel: "c1", ladder: ladder, options: options)
            if let track { planner.videoDecoderOpened(for: track) }
        }

        mutating func perform(_ actions: [LadderPlanner.Action]) {
            for action in actions {
                switch action {
                case .startRung(let plan, let threads):
                    started.append((plan.name, threads))
                    planner.rungStarted(plan, codec: "avc1.4D401E", control: control)
                case .openPassthrough(let name, _):
                    opened.append(name)
                case .forwardPassthrough(let packet):
                    forwarded.append(packet.pts)
                case .retirePassthrough:
                    retired += 1
                case .shedRung(let index):
                    shed.append(planner.state.rungs[index].plan.name)
                case .emit(let event):
                    events.append(event)
                }
            }
        }

        mutating func packet(_ pts: Int64, keyframe: Bool) throws(TranscodeError) {
            let packet = MediaPacket(track: .video, pts: pts, dts: pts, timebase: .milliseconds, isKeyframe: keyframe, data: [])
            perform(try planner.videoPacket(packet, control: control))
        }

        mutating func frame(
            _ pts: Int64, width: Int = 1920, height: Int = 1080, now: Double = 0, backlog: Double = 0
        ) throws(TranscodeError) {
            perform(try planner.frameDecoded(width: width, height: height, control: control))
            let (idr, actions) = planner.dispatch(
                pts: pts, control: control, now: now, backlogs: Array(repeating: backlog, count: planner.state.rungs.count)
            )
            perform(actions)
            for index in planner.state.dispatchOrder {
                let name = planner.state.rungs[index].plan.name
                let admission = planner.admit(rung: index, pts: pts, isIDR: idr, failure: failures[name])
                events += admission.events
                if admission.deliver { delivered[name, default: []].append(Delivery(pts: pts, forceIDR: admission.forceIDR)) }
            }
        }

        /// Frame `n` at 30 fps as a packet and, with no decoder delay, its frame.
        mutating func feed(
            _ n: Int, keyframe: Bool, width: Int = 1920, height: Int = 1080, now: Double = 0, backlog: Double = 0
        ) throws(TranscodeError) {
            try packet(LadderPlannerTests.ms(n), keyframe: keyframe)
            try frame(LadderPlannerTests.ms(n), width: width, height: height, now: now, backlog: backlog)
        }

        mutating func setControl(_ change: (inout Transcoder.ControlState) -> Void) {
            change(&control)
            control.version += 1
        }

        mutating func close(_ reason: RenditionReason) {
            events += planner.close(reason: reason, failures: planner.state.rungs.map { failures[$0.plan.name] })
        }

        func startedEvents(_ name: String) -> [RenditionStarted] {
            events.compactMap { $0 as? RenditionStarted }.filter { $0.rendition == name }
        }

        func stoppedEvents(_ name: String) -> [RenditionStopped] {
            events.compactMap { $0 as? RenditionStopped }.filter { $0.rendition == name }
        }

        func idrs(_ name: String) -> [Int64] { (delivered[name] ?? []).filter(\.forceIDR).map(\.pts) }

        var isTranscoding: Bool { if case .transcoding = planner.state.passthrough { true } else { false } }
        var heldTop: String? { if case .undecided(let top) = planner.state.passthrough { top?.name } else { nil } }
    }

    // MARK: Which rungs run

    @Test func aSourceThatCannotPassThroughEncodesEveryRungThatFitsTallestFirst() throws {
        let options = TranscodeOptions(overload: nil, encoderThreads: 1, topRungEncoderThreads: 3)
        for track in [Self.hevc(width: 1280, height: 720), Self.h264(width: 1280, height: 720, configured: false)] {
            var run = Harness(options: options, track: track)
            #expect(run.isTranscoding)
            try run.feed(0, keyframe: true, width: 1280, height: 720)
            #expect(run.started.map(\.name) == ["720p", "480p", "360p"])
            #expect(run.started.map(\.threads) == [3, 1, 1], "the tallest rung gets the top rung's threads")
            #expect(run.planner.state.dispatchOrder == [0, 1, 2])
            #expect(run.opened.isEmpty && run.forwarded.isEmpty)
            #expect(
                run.startedEvents("720p") == [
                    RenditionStarted(
                        channel: "c1", rendition: "720p", kind: .video, codec: "avc1.4D401E", width: 1280, height: 720,
                        frameRate: 30, bitrate: 2_500_000, passthrough: false, reason: .streamStarted, presentationTime: 0
                    )
                ])
        }
        var forbidden = Harness(ladder: Ladder(rungs: Ladder.default.rungs, allowsPassthrough: false), track: Self.h264())
        #expect(forbidden.isTranscoding)
        try forbidden.feed(0, keyframe: true)
        #expect(forbidden.started.map(\.name) == ["1080p", "720p", "480p", "360p"])
    }

    @Test func aSecondVideoTrackNeedsADecoderButKeepsTheDecision() {
        var planner = LadderPlanner(channel: "c1", ladder: .default, options: TranscodeOptions())
        #expect(planner.isNewVideoTrack(Self.hevc(width: 640, height: 360)))
        planner.videoDecoderOpened(for: Self.hevc(width: 640, height: 360))
        #expect(!planner.isNewVideoTrack(Self.hevc(width: 640, height: 360)))
        #expect(planner.isNewVideoTrack(Self.h264()))
        planner.videoDecoderOpened(for: Self.h264())
        if case .transcoding = planner.state.passthrough {} else { Issue.record("the first track decides") }
        #expect(planner.state.videoTrack == Self.h264())
    }

    @Test func framesFasterThanARungAreThinnedOnItsGrid() throws {
        var run = Harness(track: Self.hevc(width: 1280, height: 720))
        for n in 0..<30 { try run.feed(n, keyframe: n == 0, width: 1280, height: 720) }
        #expect(run.delivered["720p"]?.count == 30)
        #expect(run.delivered["480p"]?.count == 24)
        #expect(run.delivered["360p"]?.count == 24)
    }

    // MARK: Passthrough decision

    @Test func keyframesWithinTheWindowPassTheSourceThroughInPlaceOfTheTopRung() throws {
        var run = Harness(track: Self.h264())
        if case .undecided(nil) = run.planner.state.passthrough {} else { Issue.record("H.264 in AVC form waits for its first GOP") }
        try run.packet(-33, keyframe: false)
        for n in 0..<60 { try run.feed(n, keyframe: n == 0) }
        #expect(run.started.map(\.name) == ["720p", "480p", "360p"])
        #expect(run.heldTop == "1080p")
        #expect(run.opened.isEmpty && run.forwarded.isEmpty)
        #expect(run.planner.state.passthroughBuffer.count == 60, "from the first keyframe on")

        try run.feed(60, keyframe: true)
        #expect(run.opened == ["1080p"])
        #expect(run.forwarded == (0...60).map(Self.ms))
        #expect(run.planner.state.passthroughBuffer.isEmpty)
        #expect(
            run.startedEvents("1080p") == [
                RenditionStarted(
                    channel: "c1", rendition: "1080p", kind: .video, codec: "avc1.640028", width: 1920, height: 1080,
                    frameRate: 30, bitrate: 6_000_000, passthrough: true, reason: .streamStarted, presentationTime: 0
                )
            ])
        try run.feed(61, keyframe: false)
        #expect(run.forwarded.last == Self.ms(61))
        #expect(run.started.count == 3, "no encoder for the replaced rung")
        // Every source keyframe is an IDR in the encoded rungs.
        #expect(run.idrs("720p") == [0, 2000])
    }

    @Test func theVideoRenditionsArePlannedOnceTheFirstGOPHasDecidedThePassthrough() throws {
        var run = Harness(track: Self.h264())
        #expect(run.planner.plannedVideoRenditions == nil)
        for n in 0..<60 { try run.feed(n, keyframe: n == 0) }
        #expect(run.planner.plannedVideoRenditions == nil, "the top rung waits on the passthrough decision")
        try run.feed(60, keyframe: true)
        #expect(run.planner.plannedVideoRenditions == ["720p", "480p", "360p", "1080p"])

        var sparse = Harness(track: Self.h264())
        for n in 0...121 { try sparse.feed(n, keyframe: n == 0) }
        #expect(sparse.planner.plannedVideoRenditions.map(Set.init) == ["1080p", "720p", "480p", "360p"])

        // Not eligible for passthrough: the first frame plans everything; a rung turned off is not planned.
        var encoded = Harness(ladder: Self.small, track: Self.h264())
        encoded.setControl { $0.disabled = ["180p"] }
        try encoded.feed(0, keyframe: true)
        #expect(encoded.planner.plannedVideoRenditions == ["360p"])
    }

    @Test func sparseKeyframesStartTheHeldTopRungOnTheGrid() throws {
        let options = TranscodeOptions(overload: nil, encoderThreads: 1, topRungEncoderThreads: 3)
        var run = Harness(options: options, track: Self.h264())
        for n in 0...121 { try run.feed(n, keyframe: n == 0) }
        // 4033 ms is the first packet more than 4 s after the only keyframe.
        #expect(run.isTranscoding)
        #expect(run.started.map(\.name) == ["720p", "480p", "360p", "1080p"])
        #expect(run.started.map(\.threads) == [3, 1, 1, 3])
        #expect(run.planner.state.dispatchOrder == [3, 0, 1, 2])
        #expect(run.opened.isEmpty && run.forwarded.isEmpty && run.planner.state.passthroughBuffer.isEmpty)
        #expect(run.idrs("1080p") == [Self.ms(121)])
        #expect(run.idrs("720p") == [0, Self.ms(121)], "the grid starts where the source's keyframes failed")
        #expect(run.startedEvents("1080p").map(\.presentationTime) == [Double(Self.ms(121)) / 1000])
        for n in 122...190 { try run.feed(n, keyframe: false) }
        #expect(run.idrs("1080p") == [Self.ms(121), Self.ms(181)])
    }

    @Test func passthroughChosenBeforeTheFirstFrameOpensWhenTheLadderIsPlanned() throws {
        var run = Harness(track: Self.h264())
        try run.packet(0, keyframe: true)
        try run.packet(33, keyframe: true)
        if case .chosen = run.planner.state.passthrough {} else { Issue.record("decided before any frame") }
        #expect(run.opened.isEmpty)
        try run.frame(0)
        #expect(run.opened == ["1080p"])
        #expect(run.forwarded.first == 0)
        #expect(run.started.map(\.name) == ["720p", "480p", "360p"])

        // A source as tall as no rung replaces none: its rendition is `source`.
        var odd = Harness(track: Self.h264(width: 1280, height: 700))
        try odd.packet(0, keyframe: true)
        try odd.packet(33, keyframe: true)
        try odd.frame(0, width: 1280, height: 700)
        #expect(odd.opened == ["source"])
        #expect(odd.started.map(\.name) == ["480p", "360p"])
    }

    @Test func aSourceShorterThanTheTopRungPassesThroughAsSource() throws {
        var run = Harness(track: Self.h264(width: 1280, height: 700))
        for n in 0...60 { try run.feed(n, keyframe: n % 60 == 0, width: 1280, height: 700) }
        #expect(run.heldTop == nil)
        #expect(run.opened == ["source"])
        #expect(run.started.map(\.name) == ["480p", "360p"])
    }

    @Test func aPassthroughWhoseKeyframesGrowSparseIsRetiredAndNotReplaced() throws {
        var run = Harness(track: Self.h264())
        for n in 0...60 { try run.feed(n, keyframe: n % 60 == 0) }
        #expect(run.opened == ["1080p"])
        for n in 61...180 { try run.feed(n, keyframe: false) }
        #expect(run.retired == 0)
        try run.feed(181, keyframe: false)
        #expect(run.retired == 1)
        #expect(run.isTranscoding)
        // Reported at the last dispatched frame, which the packet that settled it precedes.
        #expect(
            run.stoppedEvents("1080p") == [
                RenditionStopped(
                    channel: "c1", rendition: "1080p", kind: .video, width: 1920, height: 1080, bitrate: 6_000_000,
                    reason: .keyframesTooSparse, presentationTime: Double(Self.ms(180)) / 1000
                )
            ])
        #expect(run.forwarded.last == Self.ms(180))
        try run.feed(182, keyframe: true)
        #expect(run.forwarded.last == Self.ms(180), "nothing more flows into a retired passthrough")
        #expect(run.started.count == 3, "too late to encode the rung under the same name")
        #expect(run.idrs("720p").last == Self.ms(181))
        run.close(.streamEnded)
        #expect(run.stoppedEvents("1080p").count == 1)
    }

    @Test func aStreamShorterThanTheWindowPassesThroughAtItsEnd() throws {
        var run = Harness(track: Self.h264())
        for n in 0..<20 { try run.feed(n, keyframe: n == 0) }
        #expect(run.opened.isEmpty)
        let actions = run.planner.endOfInput(control: run.control)
        run.perform(actions)
        #expect(run.opened == ["1080p"])
        #expect(run.forwarded == (0..<20).map(Self.ms))
        run.close(.streamEnded)
        #expect(run.stoppedEvents("1080p").map(\.reason) == [.streamEnded])

        var encoded = Harness(track: Self.hevc(width: 640, height: 360))
        try encoded.feed(0, keyframe: true, width: 640, height: 360)
        let none = encoded.planner.endOfInput(control: encoded.control)
        #expect(none.isEmpty)
        var unplanned = Harness(track: Self.h264())
        try unplanned.packet(0, keyframe: true)
        let early = unplanned.planner.endOfInput(control: unplanned.control)
        #expect(early.isEmpty, "no frame: nothing to pass through yet")
    }

    // MARK: When renditions start and stop

    @Test func aDisabledRungStopsAndRestartsOnTheNextIDR() throws {
        var run = Harness(ladder: Self.small, track: Self.hevc(width: 640, height: 360))
        for n in 0..<30 { try run.feed(n, keyframe: n == 0, width: 640, height: 360) }
        run.setControl { $0.disabled.insert("180p") }
        try run.feed(30, keyframe: false, width: 640, height: 360)
        #expect(run.stoppedEvents("180p").map(\.reason) == [.disabled])
        #expect(run.stoppedEvents("180p").first?.presentationTime == Double(Self.ms(29)) / 1000, "at the last frame it took")
        #expect(run.delivered["180p"]?.last?.pts == Self.ms(29))
        run.setControl { $0.disabled.remove("180p") }
        for n in 31..<60 { try run.feed(n, keyframe: false, width: 640, height: 360) }
        #expect(run.delivered["180p"]?.last?.pts == Self.ms(29), "waits for an IDR point")
        try run.feed(60, keyframe: false, width: 640, height: 360)
        #expect(run.delivered["180p"]?.last == Harness.Delivery(pts: 2000, forceIDR: true))
        #expect(run.startedEvents("180p").map(\.reason) == [.streamStarted, .enabled])
        #expect(run.delivered["360p"]?.count == 61)
    }

    @Test func audioOnlyStopsEveryVideoRenditionAndARungOpenedDisabledWaits() throws {
        var run = Harness(track: Self.h264())
        run.setControl { $0.disabled.insert("480p") }
        for n in 0...60 { try run.feed(n, keyframe: n % 60 == 0) }
        #expect(run.delivered["480p"] == nil && run.startedEvents("480p").isEmpty && run.stoppedEvents("480p").isEmpty)
        run.setControl { $0.audioOnly = true }
        try run.feed(61, keyframe: false)
        #expect(run.stoppedEvents("1080p").map(\.reason) == [.disabled])
        #expect(run.stoppedEvents("720p").map(\.reason) == [.disabled])
        #expect(run.forwarded.last == Self.ms(61), "the packet before the frame that applied the change")
        // The same control state again changes nothing.
        let before = run.events.count
        try run.feed(62, keyframe: false)
        #expect(run.events.count == before)
        run.setControl { $0.audioOnly = false }
        try run.feed(63, keyframe: false)
        #expect(run.forwarded.last == Self.ms(61), "the passthrough resumes on a source keyframe")
        try run.feed(120, keyframe: true)
        #expect(run.forwarded.last == 4000)
        #expect(run.startedEvents("1080p").map(\.reason) == [.streamStarted, .enabled])
        #expect(run.startedEvents("480p").isEmpty, "still disabled")
    }

    @Test func overloadShedsTheLowestPriorityRungAndRestoresItAfterHeadroom() throws {
        let overload = OverloadGovernor.Configuration(maxBacklog: 1, resumeBacklog: 0.25, settleTime: 2, headroomTime: 5)
        var run = Harness(ladder: Self.small, options: TranscodeOptions(overload: overload), track: Self.hevc(width: 640, height: 360))
        try run.feed(0, keyframe: true, width: 640, height: 360)
        try run.feed(1, keyframe: false, width: 640, height: 360, now: 1, backlog: 1.5)
        #expect(run.shed == ["360p"])
        #expect(run.stoppedEvents("360p").map(\.reason) == [.overload])
        // Without a passthrough the last encoded rung is kept.
        try run.feed(2, keyframe: false, width: 640, height: 360, now: 4, backlog: 1.5)
        #expect(run.shed == ["360p"])
        try run.feed(3, keyframe: false, width: 640, height: 360, now: 5, backlog: 0.1)
        try run.feed(4, keyframe: false, width: 640, height: 360, now: 10, backlog: 0.1)
        #expect(run.startedEvents("360p").map(\.reason) == [.streamStarted], "restored, waiting for an IDR")
        try run.feed(60, keyframe: false, width: 640, height: 360, now: 11, backlog: 0.1)
        #expect(run.startedEvents("360p").map(\.reason) == [.streamStarted, .headroomRestored])
        #expect(run.delivered["360p"]?.map(\.pts) == [0, 2000])
    }

    @Test func aRungWhoseEncoderFailedStopsOnceWithAnEvent() throws {
        var run = Harness(ladder: Self.small, track: Self.hevc(width: 640, height: 360))
        try run.feed(0, keyframe: true, width: 640, height: 360)
        run.failures["180p"] = Self.failure
        try run.feed(1, keyframe: false, width: 640, height: 360)
        try run.feed(60, keyframe: false, width: 640, height: 360)
        #expect(run.stoppedEvents("180p").map(\.reason) == [.failed])
        let failed = run.events.compactMap { $0 as? TranscodeFailed }
        #expect(
            failed == [
                TranscodeFailed(channel: "c1", stage: "encode", rendition: "180p", message: TranscodeError.libav(Self.failure).description)
            ])
        #expect(run.delivered["180p"]?.count == 1)
        #expect(run.delivered["360p"]?.count == 3)
        run.close(.streamEnded)
        #expect(run.stoppedEvents("180p").map(\.reason) == [.failed])
        #expect(run.stoppedEvents("360p").map(\.reason) == [.streamEnded])
        #expect(run.events.compactMap { $0 as? TranscodeFailed }.count == 1)
    }

    @Test func closeStopsWhatRunsOnceAndReportsFailuresFoundWhileDraining() throws {
        var run = Harness(ladder: Self.small, track: Self.hevc(width: 640, height: 360))
        run.setControl { $0.disabled.insert("360p") }
        try run.feed(0, keyframe: true, width: 640, height: 360)
        run.failures["180p"] = Self.failure
        run.close(.streamEnded)
        #expect(run.planner.isClosed)
        #expect(run.stoppedEvents("360p").isEmpty, "never started")
        #expect(run.stoppedEvents("180p").map(\.reason) == [.failed])
        #expect(run.events.compactMap { $0 as? TranscodeFailed }.map(\.rendition) == ["180p"])
        let count = run.events.count
        run.close(.failed)
        #expect(run.events.count == count)
    }

    // MARK: Keyframe alignment

    @Test func everyRungGetsTheSameIDRsOnTheGrid() throws {
        var run = Harness(track: Self.hevc(width: 1280, height: 720))
        for n in 0..<130 { try run.feed(n, keyframe: n % 90 == 0, width: 1280, height: 720) }
        #expect(run.idrs("720p") == [0, 2000, 4000])
        #expect(run.idrs("480p") == run.idrs("720p"))
        #expect(run.idrs("360p") == run.idrs("720p"))
    }

    @Test func aDiscontinuityMakesTheNextFrameAnIDRForEveryRung() throws {
        var run = Harness(track: Self.hevc(width: 1280, height: 720))
        for n in 0..<10 { try run.feed(n, keyframe: n == 0, width: 1280, height: 720) }
        run.planner.discontinuity()
        try run.feed(0, keyframe: false, width: 1280, height: 720)
        #expect(run.idrs("720p") == [0, 0])
        #expect(run.idrs("360p") == [0, 0])
        try run.feed(60, keyframe: false, width: 1280, height: 720)
        #expect(run.idrs("720p") == [0, 0, 2000], "the grid is anchored again")
    }

    // MARK: Refused input

    @Test func packetsBeforeTheirTrackAndFramesWithoutASizeAreRefused() throws {
        var planner = LadderPlanner(channel: "c1", ladder: .default, options: TranscodeOptions())
        let video = MediaPacket(track: .video, pts: 0, dts: 0, timebase: .milliseconds, isKeyframe: true, data: [])
        let noVideoTrack = #expect(throws: TranscodeError.self) { try planner.videoPacket(video, control: Transcoder.ControlState()) }
        #expect(noVideoTrack?.description == TranscodeError.packetBeforeTrack(.video).description)
        let audio = MediaPacket(track: .audio, pts: 0, dts: 0, timebase: .milliseconds, isKeyframe: true, data: [])
        let noAudioTrack = #expect(throws: TranscodeError.self) { try planner.audioPacket(audio) }
        #expect(noAudioTrack?.description == TranscodeError.packetBeforeTrack(.audio).description)
        planner.videoDecoderOpened(for: Self.hevc(width: 640, height: 360))
        let empty = #expect(throws: TranscodeError.self) {
            try planner.frameDecoded(width: 0, height: 360, control: Transcoder.ControlState())
        }
        #expect(empty?.description == TranscodeError.invalidTrack("decoded frame of 0x360").description)
    }

    @Test func decodeFailuresInARowBeyondTheLimitMeanCorruptInput() throws {
        var planner = LadderPlanner(channel: "c1", ladder: .default, options: TranscodeOptions(maxConsecutiveDecodeFailures: 2))
        planner.videoDecoderOpened(for: Self.hevc(width: 640, height: 360))
        try planner.videoDecodeFailed(Self.failure)
        try planner.videoDecodeFailed(Self.failure)
        _ = try planner.frameDecoded(width: 640, height: 360, control: Transcoder.ControlState())
        try planner.videoDecodeFailed(Self.failure)
        try planner.videoDecodeFailed(Self.failure)
        let video = #expect(throws: TranscodeError.self) { try planner.videoDecodeFailed(Self.failure) }
        #expect(video?.description == TranscodeError.corruptInput(.video, consecutiveFailures: 3, last: Self.failure).description)
        try planner.audioDecodeFailed(Self.failure)
        try planner.audioDecodeFailed(Self.failure)
        planner.audioDecoded()
        try planner.audioDecodeFailed(Self.failure)
        try planner.audioDecodeFailed(Self.failure)
        let audio = #expect(throws: TranscodeError.self) { try planner.audioDecodeFailed(Self.failure) }
        #expect(audio?.description == TranscodeError.corruptInput(.audio, consecutiveFailures: 3, last: Self.failure).description)
    }

    // MARK: Audio

    @Test func aacPassesThroughAndOtherAudioIsTranscoded() throws {
        let config = AudioSpecificConfig(objectType: 2, sampleRate: 48000, channelConfiguration: 2)
        let aac = TrackInfo(
            kind: .audio, codec: .aac, configuration: .aac(config), timebase: Timebase(1, 48000), sampleRate: 48000, channels: 2,
            bitrate: 160_000)
        let bareAAC = TrackInfo(kind: .audio, codec: .aac, timebase: Timebase(1, 48000))
        let mp3 = TrackInfo(kind: .audio, codec: .mp3, timebase: Timebase(1, 44100))
        var planner = LadderPlanner(channel: "c1", ladder: .default, options: TranscodeOptions())
        #expect(planner.audioMode(for: aac) == .passthrough)
        #expect(planner.audioMode(for: bareAAC) == .transcode)
        #expect(planner.audioMode(for: mp3) == .transcode)

        let opened = planner.audioOpened(source: aac, mode: .passthrough, output: aac)
        #expect(opened)
        #expect(planner.audioMode(for: aac) == nil, "the same track again changes nothing")
        let packet = MediaPacket(track: .audio, pts: 96000, dts: 96000, timebase: Timebase(1, 48000), isKeyframe: true, data: [])
        let started = try planner.audioPacket(packet) as? RenditionStarted
        #expect(
            started
                == RenditionStarted(
                    channel: "c1", rendition: "audio", kind: .audio, codec: "mp4a.40.2", width: nil, height: nil,
                    frameRate: nil, bitrate: 160_000, passthrough: true, reason: .streamStarted, presentationTime: 2
                ))
        let again = try planner.audioPacket(packet)
        #expect(again == nil, "started once")

        // A new source whose output is the same AAC track needs no new track description.
        let encoded = TrackInfo(kind: .audio, codec: .aac, configuration: .aac(config), timebase: Timebase(1, 48000))
        let reencoded = planner.audioOpened(source: mp3, mode: .transcode, output: encoded)
        #expect(reencoded)
        let sameOutput = planner.audioOpened(source: bareAAC, mode: .transcode, output: encoded)
        #expect(!sameOutput)
        #expect(planner.audioMode(for: bareAAC) == nil)
        let stopped = planner.close(reason: .streamEnded, failures: []).compactMap { $0 as? RenditionStopped }
        #expect(
            stopped == [
                RenditionStopped(
                    channel: "c1", rendition: "audio", kind: .audio, width: nil, height: nil, bitrate: nil,
                    reason: .streamEnded, presentationTime: nil
                )
            ])

        var silent = LadderPlanner(channel: "c1", ladder: .default, options: TranscodeOptions())
        _ = silent.audioOpened(source: mp3, mode: .transcode, output: encoded)
        let first = try silent.audioPacket(packet) as? RenditionStarted
        #expect(first?.bitrate == Ladder.default.audio.bitrate && first?.passthrough == false)
    }
}
