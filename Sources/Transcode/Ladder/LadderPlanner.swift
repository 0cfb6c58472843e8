import EventStore
import Media

/// The decisions of one transcode, without libav: which rungs are encoded, whether the source video
/// is passed through, when each rendition starts and stops, where IDRs fall, when overload sheds a
/// rung, and when the input counts as corrupt.
///
/// Sans-I/O: `TranscodePipeline` reports what happened (a track opened, a packet arrived, a frame was
/// decoded, an encoder opened or failed, the input ended) and performs the returned actions with its
/// decoders, encoders and rendition streams. Rungs are numbered in the order their encoders opened
/// (`rungStarted`); the pipeline keeps its encoders in that order.
struct LadderPlanner: Sendable {
    enum Action: Sendable {
        /// Open an encoder for the rung with `threads` libx264 threads, announce the rendition, then
        /// report `rungStarted`.
        case startRung(PlannedRung, threads: Int)
        /// Announce the passthrough rendition `name`, carrying the source `track`.
        case openPassthrough(name: String, track: TrackInfo)
        /// Send a source packet on the passthrough rendition.
        case forwardPassthrough(MediaPacket)
        /// Nothing more flows into the passthrough rendition; its stream stays open until the session
        /// closes, as a shed rung's does.
        case retirePassthrough
        /// Overload: drop the rung's queued frames and its encoder's lookahead.
        case shedRung(Int)
        case emit(any DomainEvent)
    }

    /// What becomes of a decoded frame at one rung.
    struct RungAdmission: Sendable {
        var deliver: Bool
        var forceIDR: Bool
        var events: [any DomainEvent]
    }

    enum AudioMode: Sendable, Hashable {
        case passthrough
        case transcode
    }

    /// Whether the source video is passed through: decided from the first GOP (`KeyframeSchedule`).
    enum Passthrough: Sendable {
        case awaitingTrack
        /// Not H.264 in AVC form, not allowed by the ladder, or its keyframes grew too sparse.
        case transcoding
        /// Source packets from the first keyframe on wait in `passthroughBuffer`. Once the ladder is
        /// planned, a top rung as tall as the source is held back: the passthrough would replace it.
        case undecided(heldTop: PlannedRung?)
        /// Chosen before the first decoded frame planned the ladder: the rendition opens then.
        case chosen
        case open(PassthroughRendition)
    }

    struct PassthroughRendition: Sendable {
        var name: String
        var track: TrackInfo
        var gate = RenditionGate()
    }

    struct EncodedRung: Sendable {
        var plan: PlannedRung
        /// The encoder's RFC 6381 codec string, for the events.
        var codec: String
        var gate = RenditionGate()
        var filter: FrameRateFilter?
        var failed = false
    }

    struct Audio: Sendable {
        var mode: AudioMode
        var sourceTrack: TrackInfo
        var track: TrackInfo
        var started = false
    }

    struct State: Sendable {
        var videoTrack: TrackInfo?
        var schedule: KeyframeSchedule?
        var passthrough: Passthrough = .awaitingTrack
        var passthroughBuffer: [MediaPacket] = []
        var planned = false
        var rungs: [EncodedRung] = []
        /// Indices of `rungs`, tallest first: the cascade's order.
        var dispatchOrder: [Int] = []
        var videoFailures = 0
        var lastFramePTS: Int64?
        var audio: Audio?
        var audioFailures = 0
        var controlVersion = -1
        var governor: OverloadGovernor?
        var closed = false
    }

    let channel: String
    let ladder: Ladder
    let options: TranscodeOptions
    private(set) var state = State()

    init(channel: String, ladder: Ladder, options: TranscodeOptions) {
        self.channel = channel
        self.ladder = ladder
        self.options = options
        state.governor = options.overload.map { OverloadGovernor(configuration: $0) }
    }

    // MARK: Video

    /// Whether `track` needs a decoder of its own (it is not the current video track).
    func isNewVideoTrack(_ track: TrackInfo) -> Bool { track != state.videoTrack }

    /// A decoder for `track` opened, after the previous one (if any) was drained. The first video
    /// track decides whether the source may be passed through at all.
    mutating func videoDecoderOpened(for track: TrackInfo) {
        if state.videoTrack == nil {
            let avc = if case .avc = track.configuration { true } else { false }
            let eligible = ladder.allowsPassthrough && track.codec == .h264 && avc
            state.schedule = KeyframeSchedule(
                timebase: track.timebase, keyframeInterval: ladder.keyframeInterval,
                maxPassthroughInterval: ladder.maxPassthroughKeyframeInterval, canPassThrough: eligible
            )
            state.passthrough = eligible ? .undecided(heldTop: nil) : .transcoding
        }
        state.videoTrack = track
    }

    /// Every video rendition this transcode will make, once that is settled: the rungs planned from
    /// the first decoded frame, and the passthrough once the first GOP decided it; without those a
    /// player reading the multivariant playlist would miss a rung for the whole session. Renditions
    /// that are off (control, overload, a failed encoder) are left out: none of them will produce.
    var plannedVideoRenditions: [String]? {
        guard state.planned else { return nil }
        var names = state.rungs.filter { $0.gate.isWanted && !$0.failed }.map(\.plan.name)
        switch state.passthrough {
        case .awaitingTrack, .undecided, .chosen:
            return nil
        case .transcoding:
            break
        case .open(let out):
            if out.gate.isWanted { names.append(out.name) }
        }
        return names
    }

    /// A source video packet, before it goes to the decoder.
    mutating func videoPacket(_ packet: MediaPacket, control: Transcoder.ControlState) throws(TranscodeError) -> [Action] {
        guard state.videoTrack != nil else { throw .packetBeforeTrack(.video) }
        var actions: [Action] = []
        if let settled = state.schedule?.observePacket(pts: packet.pts, isKeyframe: packet.isKeyframe) {
            actions += decide(settled, control: control)
        }
        switch state.passthrough {
        case .open:
            actions += forwardPassthrough(packet)
        case .undecided where packet.isKeyframe || !state.passthroughBuffer.isEmpty:
            state.passthroughBuffer.append(packet)
        default:
            break
        }
        return actions
    }

    mutating func videoDecodeFailed(_ error: LibavError) throws(TranscodeError) {
        state.videoFailures += 1
        if state.videoFailures > options.maxConsecutiveDecodeFailures {
            throw .corruptInput(.video, consecutiveFailures: state.videoFailures, last: error)
        }
    }

    /// A frame came out of the decoder. The first one plans the ladder for its size.
    mutating func frameDecoded(width: Int, height: Int, control: Transcoder.ControlState) throws(TranscodeError) -> [Action] {
        state.videoFailures = 0
        guard !state.planned else { return [] }
        state.planned = true
        guard let track = state.videoTrack else { return [] }
        guard width > 0, height > 0 else { throw .invalidTrack("decoded frame of \(width)x\(height)") }
        let sourceRate = track.frameRate.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 30
        var plans = PlannedRung.plan(ladder, sourceWidth: width, sourceHeight: height, sourceFrameRate: sourceRate)
        switch state.passthrough {
        case .undecided, .chosen:
            guard let top = plans.first, top.height == height else { break }
            plans.removeFirst()
            if case .undecided = state.passthrough { state.passthrough = .undecided(heldTop: top) }
        case .awaitingTrack, .transcoding, .open:
            break
        }
        var actions = startRungs(plans)
        if case .chosen = state.passthrough {
            actions += openPassthrough(name: replacedName(frameHeight: height), control: control)
        }
        return actions
    }

    /// The encoder for `plan` opened (after `.startRung`): the rung joins the ladder at the next IDR.
    mutating func rungStarted(_ plan: PlannedRung, codec: String, control: Transcoder.ControlState) {
        var rung = EncodedRung(plan: plan, codec: codec)
        if plan.dropsFrames, let track = state.videoTrack {
            rung.filter = FrameRateFilter(frameRate: plan.rung.frameRate, timebase: track.timebase)
        }
        if !control.isEnabled(plan.name) { _ = rung.gate.setEnabled(false) }
        state.rungs.append(rung)
        let rungs = state.rungs
        state.dispatchOrder = rungs.indices.sorted { rungs[$0].plan.height > rungs[$1].plan.height }
    }

    /// Before a decoded frame goes to the rungs: applies the control state and the overload governor.
    /// `now` is seconds since the transcode started; `backlogs[i]` is seconds of media queued for rung `i`.
    mutating func dispatch(
        pts: Int64, control: Transcoder.ControlState, now: Double, backlogs: [Double]
    ) -> (isIDR: Bool, actions: [Action]) {
        var actions = applyControl(control)
        state.lastFramePTS = pts
        let idr = state.schedule?.isIDR(framePTS: pts) ?? true
        actions += govern(now: now, backlogs: backlogs)
        return (idr, actions)
    }

    /// Whether rung `index` takes the frame presented at `pts`; `failure` is its encoder's, if any.
    /// Asked of the rungs in `dispatchOrder`.
    mutating func admit(rung index: Int, pts: Int64, isIDR: Bool, failure: LibavError?) -> RungAdmission {
        guard state.rungs.indices.contains(index) else { return RungAdmission(deliver: false, forceIDR: false, events: []) }
        var events = checkFailure(index, failure)
        let admission = state.rungs[index].gate.admit(isIDR: isIDR)
        if let transition = admission.transition { events.append(rungEvent(transition, index)) }
        guard admission.deliver else { return RungAdmission(deliver: false, forceIDR: false, events: events) }
        if var filter = state.rungs[index].filter {
            let keep = filter.admit(pts: pts, force: admission.forceIDR)
            state.rungs[index].filter = filter
            guard keep else { return RungAdmission(deliver: false, forceIDR: false, events: events) }
        }
        return RungAdmission(deliver: true, forceIDR: admission.forceIDR, events: events)
    }

    /// Timestamps restart (after the decoder was drained): the next frame is an IDR and anchors the
    /// grid again, and frame-rate thinning starts afresh.
    mutating func discontinuity() {
        guard state.videoTrack != nil else { return }
        state.schedule?.restart()
        for index in state.rungs.indices { state.rungs[index].filter?.reset() }
    }

    /// The input ended and the decoder was drained.
    mutating func endOfInput(control: Transcoder.ControlState) -> [Action] {
        guard case .undecided = state.passthrough, !state.passthroughBuffer.isEmpty else { return [] }
        // The whole stream was one GOP shorter than the decision window: it qualifies.
        return decide(.passthrough, control: control)
    }

    var isClosed: Bool { state.closed }

    /// Every rendition stops for `reason` (once); `failures[i]` is rung `i`'s encoder failure, read
    /// after the encoders finished.
    mutating func close(reason: RenditionReason, failures: [LibavError?]) -> [any DomainEvent] {
        guard !state.closed else { return [] }
        state.closed = true
        var events: [any DomainEvent] = []
        for index in state.rungs.indices {
            events += checkFailure(index, failures.indices.contains(index) ? failures[index] : nil)
            if state.rungs[index].gate.isRunning { events.append(rungEvent(.stopped(reason), index)) }
        }
        if case .open(let out) = state.passthrough, out.gate.isRunning {
            events.append(passthroughEvent(.stopped(reason), out, time: currentTime))
        }
        if let audio = state.audio, audio.started {
            events.append(
                RenditionStopped(
                    channel: channel, rendition: "audio", kind: .audio, width: nil, height: nil,
                    bitrate: audio.track.bitrate, reason: reason, presentationTime: nil
                ))
        }
        return events
    }

    // MARK: Passthrough decision

    private mutating func decide(_ settled: KeyframeSchedule.Decision, control: Transcoder.ControlState) -> [Action] {
        switch settled {
        case .passthrough:
            guard case .undecided(let heldTop) = state.passthrough else { return [] }
            state.passthrough = .chosen
            guard state.planned else { return [] }
            return openPassthrough(name: heldTop?.name ?? "source", control: control)
        case .transcode:
            let previous = state.passthrough
            state.passthrough = .transcoding
            state.passthroughBuffer = []
            var actions: [Action] = []
            switch previous {
            case .open(let out):
                // Too late to start a rung in its place under the same name: the packager has
                // published that rendition already. The lower rungs carry on on the grid.
                if out.gate.isRunning { actions.append(.emit(passthroughEvent(.stopped(.keyframesTooSparse), out, time: currentTime))) }
                actions.append(.retirePassthrough)
            case .undecided(let heldTop?):
                actions += startRungs([heldTop])
            case .undecided(nil), .chosen, .awaitingTrack, .transcoding:
                break
            }
            return actions
        }
    }

    private mutating func openPassthrough(name: String, control: Transcoder.ControlState) -> [Action] {
        guard let track = state.videoTrack else { return [] }
        if case .open = state.passthrough { return [] }
        var out = PassthroughRendition(name: name, track: track)
        if !control.isEnabled(name) { _ = out.gate.setEnabled(false) }
        state.passthrough = .open(out)
        var actions: [Action] = [.openPassthrough(name: name, track: track)]
        let buffered = state.passthroughBuffer
        state.passthroughBuffer = []
        for packet in buffered { actions += forwardPassthrough(packet) }
        return actions
    }

    private mutating func forwardPassthrough(_ packet: MediaPacket) -> [Action] {
        guard case .open(var out) = state.passthrough else { return [] }
        let admission = out.gate.admit(isIDR: packet.isKeyframe)
        state.passthrough = .open(out)
        var actions: [Action] = []
        if let transition = admission.transition {
            actions.append(.emit(passthroughEvent(transition, out, time: packet.timebase.seconds(packet.pts))))
        }
        if admission.deliver { actions.append(.forwardPassthrough(packet)) }
        return actions
    }

    /// The name of the ladder rung the passthrough stands in for: the one as tall as the source.
    private func replacedName(frameHeight: Int) -> String {
        let top = ladder.rungs.filter { $0.height <= frameHeight }.max { $0.height < $1.height }
        if let top, top.height == frameHeight { return top.name }
        return "source"
    }

    /// The tallest encoded rung gets the most encoder threads: it is the largest share of the work.
    private func startRungs(_ plans: [PlannedRung]) -> [Action] {
        var heights = state.rungs.map(\.plan.height)
        return plans.map { plan in
            let tallest = heights.allSatisfy { $0 < plan.height }
            heights.append(plan.height)
            return .startRung(plan, threads: tallest ? options.topRungEncoderThreads : options.encoderThreads)
        }
    }

    // MARK: Control and overload

    private mutating func applyControl(_ control: Transcoder.ControlState) -> [Action] {
        guard control.version != state.controlVersion else { return [] }
        state.controlVersion = control.version
        var actions: [Action] = []
        for index in state.rungs.indices {
            let name = state.rungs[index].plan.name
            let enabled = control.isEnabled(name)
            if !enabled { state.governor?.forget(name) }
            if let transition = state.rungs[index].gate.setEnabled(enabled) { actions.append(.emit(rungEvent(transition, index))) }
        }
        if case .open(var out) = state.passthrough {
            let transition = out.gate.setEnabled(control.isEnabled(out.name))
            state.passthrough = .open(out)
            if let transition { actions.append(.emit(passthroughEvent(transition, out, time: currentTime))) }
        }
        return actions
    }

    private mutating func govern(now: Double, backlogs: [Double]) -> [Action] {
        guard var governor = state.governor else { return [] }
        var backlog = 0.0
        var candidates: [OverloadGovernor.Candidate] = []
        for (index, rung) in state.rungs.enumerated() where rung.gate.isRunning {
            if backlogs.indices.contains(index) { backlog = max(backlog, backlogs[index]) }
            candidates.append(.init(name: rung.plan.name, priority: rung.plan.rung.priority))
        }
        let keepOne = if case .open(let out) = state.passthrough { !out.gate.isRunning } else { true }
        let action = governor.observe(now: now, backlog: backlog, candidates: candidates, keepOne: keepOne)
        state.governor = governor
        switch action {
        case .stop(let name):
            guard let index = state.rungs.firstIndex(where: { $0.plan.name == name }) else { return [] }
            var actions: [Action] = []
            if let transition = state.rungs[index].gate.shed() { actions.append(.emit(rungEvent(transition, index))) }
            actions.append(.shedRung(index))
            return actions
        case .restart(let name):
            guard let index = state.rungs.firstIndex(where: { $0.plan.name == name }) else { return [] }
            _ = state.rungs[index].gate.restore()
            return []
        case nil:
            return []
        }
    }

    private mutating func checkFailure(_ index: Int, _ failure: LibavError?) -> [any DomainEvent] {
        guard !state.rungs[index].failed, let error = failure else { return [] }
        state.rungs[index].failed = true
        var events: [any DomainEvent] = []
        if let transition = state.rungs[index].gate.fail() { events.append(rungEvent(transition, index)) }
        events.append(
            TranscodeFailed(
                channel: channel, stage: "encode", rendition: state.rungs[index].plan.name,
                message: TranscodeError.libav(error).description
            ))
        return events
    }

    // MARK: Audio

    /// How `track` is carried: AAC with its configuration passes through, anything else is
    /// transcoded. `nil` when it is the current audio track.
    func audioMode(for track: TrackInfo) -> AudioMode? {
        if let audio = state.audio, audio.sourceTrack == track { return nil }
        let passes = if track.codec == .aac, case .aac = track.configuration { true } else { false }
        return passes ? .passthrough : .transcode
    }

    /// The audio rendition now carries `source` as `output` (after the previous coder, if any, was
    /// flushed). Returns whether the rendition's track changed, which it does when it first opens.
    mutating func audioOpened(source: TrackInfo, mode: AudioMode, output: TrackInfo) -> Bool {
        guard var audio = state.audio else {
            state.audio = Audio(mode: mode, sourceTrack: source, track: output)
            return true
        }
        let changed = output != audio.track
        audio.mode = mode
        audio.sourceTrack = source
        audio.track = output
        state.audio = audio
        return changed
    }

    /// A source audio packet; the first one starts the audio rendition.
    mutating func audioPacket(_ packet: MediaPacket) throws(TranscodeError) -> (any DomainEvent)? {
        guard var audio = state.audio else { throw .packetBeforeTrack(.audio) }
        guard !audio.started else { return nil }
        audio.started = true
        state.audio = audio
        let codec = if case .aac(let config) = audio.track.configuration { config.codecString } else { audio.track.codec.description }
        return RenditionStarted(
            channel: channel, rendition: "audio", kind: .audio, codec: codec,
            width: nil, height: nil, frameRate: nil, bitrate: audio.track.bitrate ?? ladder.audio.bitrate,
            passthrough: audio.mode == .passthrough, reason: .streamStarted, presentationTime: packet.timebase.seconds(packet.pts)
        )
    }

    mutating func audioDecoded() { state.audioFailures = 0 }

    mutating func audioDecodeFailed(_ error: LibavError) throws(TranscodeError) {
        state.audioFailures += 1
        if state.audioFailures > options.maxConsecutiveDecodeFailures {
            throw .corruptInput(.audio, consecutiveFailures: state.audioFailures, last: error)
        }
    }

    // MARK: Events

    private var currentTime: Double? {
        guard let pts = state.lastFramePTS, let track = state.videoTrack else { return nil }
        return track.timebase.seconds(pts)
    }

    private func rungEvent(_ transition: RenditionGate.Transition, _ index: Int) -> any DomainEvent {
        let rung = state.rungs[index]
        let plan = rung.plan
        switch transition {
        case .started(let reason):
            return RenditionStarted(
                channel: channel, rendition: plan.name, kind: .video, codec: rung.codec, width: plan.width,
                height: plan.height, frameRate: plan.frameRate, bitrate: plan.rung.bitrate, passthrough: false,
                reason: reason, presentationTime: currentTime
            )
        case .stopped(let reason):
            return RenditionStopped(
                channel: channel, rendition: plan.name, kind: .video, width: plan.width,
                height: plan.height, bitrate: plan.rung.bitrate, reason: reason, presentationTime: currentTime
            )
        }
    }

    private func passthroughEvent(_ transition: RenditionGate.Transition, _ out: PassthroughRendition, time: Double?) -> any DomainEvent {
        let track = out.track
        switch transition {
        case .started(let reason):
            let codec = if case .avc(let record) = track.configuration { record.codecString } else { track.codec.description }
            return RenditionStarted(
                channel: channel, rendition: out.name, kind: .video, codec: codec, width: track.width,
                height: track.height, frameRate: track.frameRate, bitrate: track.bitrate, passthrough: true,
                reason: reason, presentationTime: time
            )
        case .stopped(let reason):
            return RenditionStopped(
                channel: channel, rendition: out.name, kind: .video, width: track.width,
                height: track.height, bitrate: track.bitrate, reason: reason, presentationTime: time
            )
        }
    }
}
