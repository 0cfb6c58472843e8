import CFFmpeg
import EventStore
import Media

/// The media path of one `Transcoder.run`: decoders, the keyframe schedule, the rendition gates and the
/// rung workers. Lives on the run's dispatcher thread only: decoding and scaling are CPU work that
/// would otherwise hold the cooperative pool (two threads on a two-core host) away from every other task.
final class TranscodePipeline {
    struct EncodedRung {
        let worker: RungWorker
        var gate = RenditionGate()
        var filter: FrameRateFilter?
        var failed = false
        /// Dispatcher-side scaler for `.cascade`.
        let scaler: Scaler
        var plan: PlannedRung { worker.plan }
    }

    struct PassthroughOutput {
        let name: String
        let track: TrackInfo
        let output: AsyncStream<MediaItem>.Continuation
        var gate = RenditionGate()
    }

    enum AudioMode {
        case passthrough
        case transcode(AudioTranscoder)
    }

    struct AudioOutput {
        var mode: AudioMode
        var sourceTrack: TrackInfo
        var track: TrackInfo
        let output: AsyncStream<MediaItem>.Continuation
        var started = false
    }

    let transcoder: Transcoder
    let events: AsyncStream<any DomainEvent>.Continuation
    private var ladder: Ladder { transcoder.ladder }
    private var options: TranscodeOptions { transcoder.options }
    private let clock = ContinuousClock()
    private let startedAt: ContinuousClock.Instant

    private var videoTrack: TrackInfo?
    private var videoDecoder: Decoder?
    private var schedule: KeyframeSchedule?
    private var decision: KeyframeSchedule.Decision?
    private var planned = false
    private var rungs: [EncodedRung] = []
    /// Indices of `rungs`, tallest first: the cascade's order.
    private var dispatchOrder: [Int] = []
    private var heldTop: PlannedRung?
    private var passthrough: PassthroughOutput?
    /// A passthrough whose source keyframes grew too sparse: nothing more flows into it, and its
    /// stream stays open until the session closes, as a shed rung's does.
    private var retiredPassthrough: PassthroughOutput?
    private var passthroughEligible = false
    private var passthroughBuffer: [MediaPacket] = []
    private var videoFailures = 0
    private var lastFramePTS: Int64?
    private var audio: AudioOutput?
    private var audioFailures = 0
    private var controlVersion = -1
    private var governor: OverloadGovernor?
    private var closed = false

    init(transcoder: Transcoder, events: AsyncStream<any DomainEvent>.Continuation) {
        self.transcoder = transcoder
        self.events = events
        startedAt = clock.now
        governor = transcoder.options.overload.map { OverloadGovernor(configuration: $0) }
    }

    func handle(_ item: MediaItem) throws(TranscodeError) {
        switch item {
        case .track(let track):
            switch track.kind {
            case .video: try configureVideo(track)
            case .audio: try configureAudio(track)
            }
        case .packet(let packet):
            switch packet.track {
            case .video: try videoPacket(packet)
            case .audio: try audioPacket(packet)
            }
        case .discontinuity:
            try discontinuity()
        }
    }

    /// The input ended: drain everything and finish every rendition.
    func finish() throws(TranscodeError) {
        if videoDecoder != nil { try decodeVideo(nil) }
        if passthroughEligible, decision == nil, !passthroughBuffer.isEmpty {
            // The whole stream was one GOP shorter than the decision window: it qualifies.
            decision = .passthrough
            try applyDecision(.passthrough)
        }
        if let audio, case .transcode(let coder) = audio.mode {
            do {
                for packet in try coder.flush() { audio.output.yield(.packet(packet)) }
            } catch {
                throw .libav(error)
            }
        }
        close(reason: .streamEnded)
    }

    /// After a failure: stop the workers without draining and finish every rendition.
    func abort() {
        for rung in rungs { rung.worker.queue.removeAll() }
        close(reason: .failed)
    }

    // MARK: Video

    private func configureVideo(_ track: TrackInfo) throws(TranscodeError) {
        if track == videoTrack { return }
        if videoDecoder != nil { try decodeVideo(nil) }
        videoDecoder = try Decoder(track: track, threads: options.decoderThreads)
        if videoTrack == nil {
            let avc = if case .avc = track.configuration { true } else { false }
            passthroughEligible = ladder.allowsPassthrough && track.codec == .h264 && avc
            schedule = KeyframeSchedule(
                timebase: track.timebase, keyframeInterval: ladder.keyframeInterval,
                maxPassthroughInterval: ladder.maxPassthroughKeyframeInterval, canPassThrough: passthroughEligible
            )
            if !passthroughEligible { decision = .transcode }
        }
        videoTrack = track
    }

    private func videoPacket(_ packet: MediaPacket) throws(TranscodeError) {
        guard videoDecoder != nil else { throw .packetBeforeTrack(.video) }
        if let settled = schedule?.observePacket(pts: packet.pts, isKeyframe: packet.isKeyframe) {
            decision = settled
            try applyDecision(settled)
        }
        if passthrough != nil {
            forwardPassthrough(packet)
        } else if passthroughEligible, decision == nil, packet.isKeyframe || !passthroughBuffer.isEmpty {
            passthroughBuffer.append(packet)
        }
        try decodeVideo(packet)
    }

    private func decodeVideo(_ packet: MediaPacket?) throws(TranscodeError) {
        guard let decoder = videoDecoder else { return }
        do {
            try decoder.send(packet)
        } catch {
            try countVideoFailure(error)
            return
        }
        while true {
            let frame: Frame?
            do {
                frame = try decoder.receive()
            } catch {
                try countVideoFailure(error)
                break
            }
            guard let frame else { break }
            videoFailures = 0
            try dispatch(frame)
        }
    }

    private func countVideoFailure(_ error: LibavError) throws(TranscodeError) {
        videoFailures += 1
        if videoFailures > options.maxConsecutiveDecodeFailures {
            throw .corruptInput(.video, consecutiveFailures: videoFailures, last: error)
        }
    }

    private func dispatch(_ frame: Frame) throws(TranscodeError) {
        if !planned { try plan(frame) }
        applyControl()
        let pts = frame.pts
        lastFramePTS = pts
        let idr = schedule?.isIDR(framePTS: pts) ?? true
        govern()
        var smallest = frame
        for index in dispatchOrder {
            checkFailure(index)
            let admission = rungs[index].gate.admit(isIDR: idr)
            if let transition = admission.transition { report(transition, rung: rungs[index]) }
            guard admission.deliver else { continue }
            if var filter = rungs[index].filter {
                let keep = filter.admit(pts: pts, force: admission.forceIDR)
                rungs[index].filter = filter
                guard keep else { continue }
            }
            var input = frame
            if options.scaling == .cascade {
                let plan = rungs[index].plan
                if smallest.width != plan.width || smallest.height != plan.height || smallest.format != AV_PIX_FMT_YUV420P.rawValue {
                    do {
                        smallest = try rungs[index].scaler.scale(smallest)
                    } catch {
                        throw .libav(error)
                    }
                }
                input = smallest
            }
            rungs[index].worker.queue.put(.frame(input, forceIDR: admission.forceIDR))
        }
    }

    private func plan(_ frame: Frame) throws(TranscodeError) {
        planned = true
        guard let track = videoTrack else { return }
        guard frame.width > 0, frame.height > 0 else { throw .invalidTrack("decoded frame of \(frame.width)x\(frame.height)") }
        let sourceRate = track.frameRate.flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? 30
        var plans = PlannedRung.plan(ladder, sourceWidth: frame.width, sourceHeight: frame.height, sourceFrameRate: sourceRate)
        if passthroughEligible, decision != .transcode, let top = plans.first, top.height == frame.height {
            plans.removeFirst()
            if decision == nil { heldTop = top }
        }
        for plan in plans { try startRung(plan) }
        if decision == .passthrough, passthrough == nil {
            openPassthrough(name: replacedName(frameHeight: frame.height))
        }
    }

    private func replacedName(frameHeight: Int) -> String {
        let top = ladder.rungs.filter { $0.height <= frameHeight }.max { $0.height < $1.height }
        if let top, top.height == frameHeight { return top.name }
        return "source"
    }

    private func applyDecision(_ settled: KeyframeSchedule.Decision) throws(TranscodeError) {
        switch settled {
        case .passthrough:
            guard planned else { return }
            let name = heldTop?.name ?? "source"
            heldTop = nil
            openPassthrough(name: name)
        case .transcode:
            passthroughBuffer = []
            passthroughEligible = false
            if let out = passthrough {
                // Too late to start a rung in its place under the same name: the packager has
                // published that rendition already. The lower rungs carry on on the grid.
                if out.gate.isRunning { reportPassthrough(.stopped(.keyframesTooSparse), out, time: currentTime) }
                retiredPassthrough = out
                passthrough = nil
            }
            if let top = heldTop {
                heldTop = nil
                try startRung(top)
            }
        }
    }

    private func startRung(_ plan: PlannedRung) throws(TranscodeError) {
        guard let track = videoTrack else { return }
        let (items, output) = AsyncStream.makeStream(of: MediaItem.self)
        let worker: RungWorker
        do {
            worker = try RungWorker(
                plan: plan, timebase: track.timebase, preset: ladder.preset,
                threads: rungs.allSatisfy { $0.plan.height < plan.height } ? options.topRungEncoderThreads : options.encoderThreads,
                queueCapacity: options.queueCapacity, output: output
            )
        } catch {
            output.finish()
            throw .libav(error)
        }
        worker.start()
        var rung = EncodedRung(worker: worker, scaler: Scaler(width: plan.width, height: plan.height))
        if plan.dropsFrames { rung.filter = FrameRateFilter(frameRate: plan.rung.frameRate, timebase: track.timebase) }
        if !transcoder.control.withLock({ $0.isEnabled(plan.name) }) { _ = rung.gate.setEnabled(false) }
        rungs.append(rung)
        dispatchOrder = rungs.indices.sorted { rungs[$0].plan.height > rungs[$1].plan.height }
        transcoder.announce.yield(Rendition(
            name: plan.name, kind: .video, width: plan.width, height: plan.height, frameRate: plan.frameRate,
            bitrate: plan.rung.bitrate, isPassthrough: false, items: items
        ))
    }

    private func openPassthrough(name: String) {
        guard let track = videoTrack, passthrough == nil else { return }
        let (items, output) = AsyncStream.makeStream(of: MediaItem.self)
        output.yield(.track(track))
        var out = PassthroughOutput(name: name, track: track, output: output)
        if !transcoder.control.withLock({ $0.isEnabled(name) }) { _ = out.gate.setEnabled(false) }
        passthrough = out
        transcoder.announce.yield(Rendition(
            name: name, kind: .video, width: track.width, height: track.height, frameRate: track.frameRate,
            bitrate: track.bitrate, isPassthrough: true, items: items
        ))
        let buffered = passthroughBuffer
        passthroughBuffer = []
        for packet in buffered { forwardPassthrough(packet) }
    }

    private func forwardPassthrough(_ packet: MediaPacket) {
        guard var out = passthrough else { return }
        let admission = out.gate.admit(isIDR: packet.isKeyframe)
        passthrough = out
        if let transition = admission.transition {
            reportPassthrough(transition, out, time: packet.timebase.seconds(packet.pts))
        }
        if admission.deliver { out.output.yield(.packet(packet)) }
    }

    // MARK: Control and overload

    private func applyControl() {
        let state = transcoder.control.withLock { $0 }
        guard state.version != controlVersion else { return }
        controlVersion = state.version
        for index in rungs.indices {
            let enabled = state.isEnabled(rungs[index].plan.name)
            if !enabled { governor?.forget(rungs[index].plan.name) }
            if let transition = rungs[index].gate.setEnabled(enabled) { report(transition, rung: rungs[index]) }
        }
        if var out = passthrough {
            let transition = out.gate.setEnabled(state.isEnabled(out.name))
            passthrough = out
            if let transition { reportPassthrough(transition, out, time: currentTime) }
        }
    }

    private func govern() {
        guard var governor else { return }
        let now = (clock.now - startedAt) / .seconds(1)
        var backlog = 0.0
        var candidates: [OverloadGovernor.Candidate] = []
        for rung in rungs where rung.gate.isRunning {
            backlog = max(backlog, rung.worker.backlog)
            candidates.append(.init(name: rung.plan.name, priority: rung.plan.rung.priority))
        }
        let keepOne = !(passthrough?.gate.isRunning ?? false)
        let action = governor.observe(now: now, backlog: backlog, candidates: candidates, keepOne: keepOne)
        self.governor = governor
        switch action {
        case .stop(let name):
            guard let index = rungs.firstIndex(where: { $0.plan.name == name }) else { return }
            if let transition = rungs[index].gate.shed() { report(transition, rung: rungs[index]) }
            rungs[index].worker.shed()
        case .restart(let name):
            guard let index = rungs.firstIndex(where: { $0.plan.name == name }) else { return }
            _ = rungs[index].gate.restore()
        case nil:
            break
        }
    }

    private func checkFailure(_ index: Int) {
        guard !rungs[index].failed, let error = rungs[index].worker.failure else { return }
        rungs[index].failed = true
        if let transition = rungs[index].gate.fail() { report(transition, rung: rungs[index]) }
        events.yield(TranscodeFailed(
            channel: transcoder.channel, stage: "encode", rendition: rungs[index].plan.name,
            message: TranscodeError.libav(error).description
        ))
    }

    // MARK: Audio

    private func configureAudio(_ track: TrackInfo) throws(TranscodeError) {
        if let audio, audio.sourceTrack == track { return }
        let passes = if track.codec == .aac, case .aac = track.configuration { true } else { false }
        let mode: AudioMode
        let outputTrack: TrackInfo
        if passes {
            mode = .passthrough
            outputTrack = track
        } else {
            let coder = try AudioTranscoder(source: track, profile: ladder.audio)
            mode = .transcode(coder)
            outputTrack = coder.track
        }
        if var current = audio {
            if case .transcode(let old) = current.mode {
                do {
                    for packet in try old.flush() { current.output.yield(.packet(packet)) }
                } catch {
                    throw .libav(error)
                }
            }
            if outputTrack != current.track { current.output.yield(.track(outputTrack)) }
            current.mode = mode
            current.sourceTrack = track
            current.track = outputTrack
            audio = current
            return
        }
        let (items, output) = AsyncStream.makeStream(of: MediaItem.self)
        output.yield(.track(outputTrack))
        audio = AudioOutput(mode: mode, sourceTrack: track, track: outputTrack, output: output)
        transcoder.announce.yield(Rendition(
            name: "audio", kind: .audio, width: nil, height: nil, frameRate: nil,
            bitrate: outputTrack.bitrate ?? ladder.audio.bitrate, isPassthrough: passes, items: items
        ))
    }

    private func audioPacket(_ packet: MediaPacket) throws(TranscodeError) {
        guard var audio else { throw .packetBeforeTrack(.audio) }
        if !audio.started {
            audio.started = true
            self.audio = audio
            events.yield(RenditionStarted(
                channel: transcoder.channel, rendition: "audio", kind: .audio, codec: audioCodecString(audio.track),
                width: nil, height: nil, frameRate: nil, bitrate: audio.track.bitrate ?? ladder.audio.bitrate,
                passthrough: isPassthrough(audio), reason: .streamStarted, presentationTime: packet.timebase.seconds(packet.pts)
            ))
        }
        switch audio.mode {
        case .passthrough:
            audio.output.yield(.packet(packet))
        case .transcode(let coder):
            do {
                let packets = try coder.decode(packet)
                audioFailures = 0
                for out in packets { audio.output.yield(.packet(out)) }
            } catch {
                audioFailures += 1
                if audioFailures > options.maxConsecutiveDecodeFailures {
                    throw .corruptInput(.audio, consecutiveFailures: audioFailures, last: error)
                }
            }
        }
    }

    private func isPassthrough(_ audio: AudioOutput) -> Bool {
        if case .passthrough = audio.mode { true } else { false }
    }

    private func audioCodecString(_ track: TrackInfo) -> String {
        if case .aac(let config) = track.configuration { config.codecString } else { track.codec.description }
    }

    // MARK: Discontinuity and end

    private func discontinuity() throws(TranscodeError) {
        if let decoder = videoDecoder {
            try decodeVideo(nil)
            decoder.reset()
            schedule?.restart()
            for index in rungs.indices {
                rungs[index].filter?.reset()
                rungs[index].worker.queue.put(.discontinuity)
            }
            passthrough?.output.yield(.discontinuity)
        }
        if var current = audio {
            if case .transcode(let coder) = current.mode {
                do {
                    for packet in try coder.flush() { current.output.yield(.packet(packet)) }
                } catch {
                    throw .libav(error)
                }
                current.mode = .transcode(try coder.restart())
                audio = current
            }
            current.output.yield(.discontinuity)
        }
    }

    private var currentTime: Double? {
        guard let pts = lastFramePTS, let track = videoTrack else { return nil }
        return track.timebase.seconds(pts)
    }

    private func close(reason: RenditionReason) {
        guard !closed else { return }
        closed = true
        // Every encoder drains its lookahead at once, not one after the other.
        for rung in rungs { rung.worker.queue.close() }
        for rung in rungs { rung.worker.finish() }
        for index in rungs.indices {
            checkFailure(index)
            if rungs[index].gate.isRunning {
                report(.stopped(reason), rung: rungs[index])
            }
        }
        if let out = passthrough {
            if out.gate.isRunning { reportPassthrough(.stopped(reason), out, time: currentTime) }
            out.output.finish()
        }
        retiredPassthrough?.output.finish()
        if let audio {
            if audio.started {
                events.yield(RenditionStopped(
                    channel: transcoder.channel, rendition: "audio", kind: .audio, width: nil, height: nil,
                    bitrate: audio.track.bitrate, reason: reason, presentationTime: nil
                ))
            }
            audio.output.finish()
        }
    }

    // MARK: Events

    private func report(_ transition: RenditionGate.Transition, rung: EncodedRung) {
        let plan = rung.plan
        switch transition {
        case .started(let reason):
            events.yield(RenditionStarted(
                channel: transcoder.channel, rendition: plan.name, kind: .video,
                codec: rung.worker.configuration.codecString, width: plan.width, height: plan.height,
                frameRate: plan.frameRate, bitrate: plan.rung.bitrate, passthrough: false, reason: reason,
                presentationTime: currentTime
            ))
        case .stopped(let reason):
            events.yield(RenditionStopped(
                channel: transcoder.channel, rendition: plan.name, kind: .video, width: plan.width,
                height: plan.height, bitrate: plan.rung.bitrate, reason: reason, presentationTime: currentTime
            ))
        }
    }

    private func reportPassthrough(_ transition: RenditionGate.Transition, _ out: PassthroughOutput, time: Double?) {
        let track = out.track
        switch transition {
        case .started(let reason):
            let codec = if case .avc(let record) = track.configuration { record.codecString } else { track.codec.description }
            events.yield(RenditionStarted(
                channel: transcoder.channel, rendition: out.name, kind: .video, codec: codec, width: track.width,
                height: track.height, frameRate: track.frameRate, bitrate: track.bitrate, passthrough: true,
                reason: reason, presentationTime: time
            ))
        case .stopped(let reason):
            events.yield(RenditionStopped(
                channel: transcoder.channel, rendition: out.name, kind: .video, width: track.width,
                height: track.height, bitrate: track.bitrate, reason: reason, presentationTime: time
            ))
        }
    }
}
