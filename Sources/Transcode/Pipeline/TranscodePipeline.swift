import CFFmpeg
import EventStore
import Media

/// The media path of one `Transcoder.run`: the decoders, the rung workers and the renditions' streams,
/// driven by a `LadderPlanner` that makes every decision. Lives on the run's dispatcher thread only:
/// decoding and scaling are CPU work that would otherwise hold the cooperative pool (two threads on a
/// two-core host) away from every other task.
final class TranscodePipeline {
    struct EncodedRung {
        let worker: RungWorker
        /// Dispatcher-side scaler for `.cascade`.
        let scaler: Scaler
    }

    struct AudioOutput {
        /// `nil` while the source's AAC passes through.
        var coder: AudioTranscoder?
        let output: AsyncStream<MediaItem>.Continuation
    }

    let transcoder: Transcoder
    let events: AsyncStream<any DomainEvent>.Continuation
    private var ladder: Ladder { transcoder.ladder }
    private var options: TranscodeOptions { transcoder.options }
    private let clock = ContinuousClock()
    private let startedAt: ContinuousClock.Instant

    private var planner: LadderPlanner
    private var videoDecoder: Decoder?
    /// In the planner's rung order.
    private var rungs: [EncodedRung] = []
    private var passthrough: AsyncStream<MediaItem>.Continuation?
    /// The source track the passthrough rendition's init segment was made from. Packets of another
    /// configuration (the standby slate, a backup encoder with other parameters) are held back
    /// from it: a rendition has one init segment per session.
    private var passthroughTrack: TrackInfo?
    private var passthroughPaused = false
    /// After decode-only packets (a switch to a backup input) the passthrough rendition waits for
    /// the input's next keyframe: what it would get first refers to frames it never had.
    private var passthroughAwaitingKeyframe = false
    /// Decoded frames up to this PTS were shown already (decode-only packets): not encoded.
    private var discardThrough: Int64?
    /// A passthrough the planner retired: its stream stays open until the session closes.
    private var retiredPassthrough: AsyncStream<MediaItem>.Continuation?
    private var audio: AudioOutput?
    private var plannedPublished = false

    init(transcoder: Transcoder, events: AsyncStream<any DomainEvent>.Continuation) {
        self.transcoder = transcoder
        self.events = events
        startedAt = clock.now
        planner = LadderPlanner(channel: transcoder.channel, ladder: transcoder.ladder, options: transcoder.options)
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
        try perform(planner.endOfInput(control: control))
        if let audio, let coder = audio.coder {
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

    private var control: Transcoder.ControlState { transcoder.control.withLock { $0 } }

    /// Runs the planner's actions with libav and the renditions' streams.
    private func perform(_ actions: [LadderPlanner.Action]) throws(TranscodeError) {
        for action in actions {
            switch action {
            case .startRung(let plan, let threads):
                try startRung(plan, threads: threads)
            case .openPassthrough(let name, let track):
                openPassthrough(name: name, track: track)
            case .forwardPassthrough(let packet):
                if passthroughAwaitingKeyframe {
                    guard packet.isKeyframe else { continue }
                    passthroughAwaitingKeyframe = false
                }
                if !passthroughPaused { passthrough?.yield(.packet(packet)) }
            case .retirePassthrough:
                retiredPassthrough = passthrough
                passthrough = nil
            case .shedRung(let index):
                if rungs.indices.contains(index) { rungs[index].worker.shed() }
            case .emit(let event):
                events.yield(event)
            }
        }
        if !plannedPublished, let planned = planner.plannedVideoRenditions {
            plannedPublished = true
            transcoder.planned.withLock { $0 = planned }
        }
    }

    private func emit(_ events: [any DomainEvent]) {
        for event in events { self.events.yield(event) }
    }

    // MARK: Video

    private func configureVideo(_ track: TrackInfo) throws(TranscodeError) {
        guard planner.isNewVideoTrack(track) else { return }
        if let passthroughTrack {
            let paused = passthroughTrack.configuration != track.configuration || passthroughTrack.codec != track.codec
            // Back to its own parameters: it goes on from the next keyframe.
            if passthroughPaused, !paused { passthroughAwaitingKeyframe = true }
            passthroughPaused = paused
        }
        if videoDecoder != nil { try decodeVideo(nil) }
        videoDecoder = try Decoder(track: track, threads: options.decoderThreads)
        planner.videoDecoderOpened(for: track)
    }

    private func videoPacket(_ packet: MediaPacket) throws(TranscodeError) {
        if packet.decodeOnly {
            discardThrough = max(discardThrough ?? packet.pts, packet.pts)
            passthroughAwaitingKeyframe = true
        } else {
            try perform(planner.videoPacket(packet, control: control))
        }
        try decodeVideo(packet)
    }

    private func decodeVideo(_ packet: MediaPacket?) throws(TranscodeError) {
        guard let decoder = videoDecoder else { return }
        do {
            try decoder.send(packet)
        } catch {
            try planner.videoDecodeFailed(error)
            return
        }
        while true {
            let frame: Frame?
            do {
                frame = try decoder.receive()
            } catch {
                try planner.videoDecodeFailed(error)
                break
            }
            guard let frame else { break }
            try dispatch(frame)
        }
    }

    private func dispatch(_ frame: Frame) throws(TranscodeError) {
        if let discardThrough, frame.pts <= discardThrough { return }
        let control = self.control
        try perform(planner.frameDecoded(width: frame.width, height: frame.height, control: control))
        let pts = frame.pts
        let now = (clock.now - startedAt) / .seconds(1)
        let (idr, actions) = planner.dispatch(pts: pts, control: control, now: now, backlogs: rungs.map(\.worker.backlog))
        try perform(actions)
        var smallest = frame
        for index in planner.state.dispatchOrder where rungs.indices.contains(index) {
            let admission = planner.admit(rung: index, pts: pts, isIDR: idr, failure: rungs[index].worker.failure)
            emit(admission.events)
            guard admission.deliver else { continue }
            var input = frame
            if options.scaling == .cascade {
                let plan = rungs[index].worker.plan
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

    private func startRung(_ plan: PlannedRung, threads: Int) throws(TranscodeError) {
        guard let track = planner.state.videoTrack else { return }
        let (items, output) = AsyncStream.makeStream(of: MediaItem.self)
        let worker: RungWorker
        do {
            worker = try RungWorker(
                plan: plan, channel: transcoder.channel, timebase: track.timebase, preset: ladder.preset, tuning: ladder.tuning,
                threads: threads,
                queueCapacity: options.queueCapacity, output: output
            )
        } catch {
            output.finish()
            throw .libav(error)
        }
        worker.start()
        rungs.append(EncodedRung(worker: worker, scaler: Scaler(width: plan.width, height: plan.height)))
        planner.rungStarted(plan, codec: worker.configuration.codecString, control: control)
        transcoder.announce.yield(
            Rendition(
                name: plan.name, kind: .video, width: plan.width, height: plan.height, frameRate: plan.frameRate,
                bitrate: plan.rung.bitrate, isPassthrough: false, items: items
            ))
    }

    private func openPassthrough(name: String, track: TrackInfo) {
        let (items, output) = AsyncStream.makeStream(of: MediaItem.self)
        output.yield(.track(track))
        passthrough = output
        passthroughTrack = track
        transcoder.announce.yield(
            Rendition(
                name: name, kind: .video, width: track.width, height: track.height, frameRate: track.frameRate,
                bitrate: track.bitrate, isPassthrough: true, items: items
            ))
    }

    // MARK: Audio

    private func configureAudio(_ track: TrackInfo) throws(TranscodeError) {
        guard let mode = planner.audioMode(for: track) else { return }
        let coder: AudioTranscoder?
        switch mode {
        case .passthrough: coder = nil
        case .transcode: coder = try AudioTranscoder(source: track, profile: ladder.audio)
        }
        let outputTrack = coder?.track ?? track
        if var current = audio {
            if let old = current.coder {
                do {
                    for packet in try old.flush() { current.output.yield(.packet(packet)) }
                } catch {
                    throw .libav(error)
                }
            }
            if planner.audioOpened(source: track, mode: mode, output: outputTrack) { current.output.yield(.track(outputTrack)) }
            current.coder = coder
            audio = current
            return
        }
        _ = planner.audioOpened(source: track, mode: mode, output: outputTrack)
        let (items, output) = AsyncStream.makeStream(of: MediaItem.self)
        output.yield(.track(outputTrack))
        audio = AudioOutput(coder: coder, output: output)
        transcoder.announce.yield(
            Rendition(
                name: "audio", kind: .audio, width: nil, height: nil, frameRate: nil,
                bitrate: outputTrack.bitrate ?? ladder.audio.bitrate, isPassthrough: mode == .passthrough, items: items
            ))
    }

    private func audioPacket(_ packet: MediaPacket) throws(TranscodeError) {
        if let started = try planner.audioPacket(packet) { events.yield(started) }
        guard let audio else { throw .packetBeforeTrack(.audio) }
        guard let coder = audio.coder else {
            audio.output.yield(.packet(packet))
            return
        }
        let packets: [MediaPacket]
        do {
            packets = try coder.decode(packet)
        } catch {
            try planner.audioDecodeFailed(error)
            return
        }
        planner.audioDecoded()
        for out in packets { audio.output.yield(.packet(out)) }
    }

    // MARK: Discontinuity and end

    private func discontinuity() throws(TranscodeError) {
        discardThrough = nil
        if let decoder = videoDecoder {
            try decodeVideo(nil)
            decoder.reset()
            planner.discontinuity()
            for rung in rungs { rung.worker.queue.put(.discontinuity) }
            passthrough?.yield(.discontinuity)
        }
        if var current = audio {
            if let coder = current.coder {
                do {
                    for packet in try coder.flush() { current.output.yield(.packet(packet)) }
                } catch {
                    throw .libav(error)
                }
                current.coder = try coder.restart()
                audio = current
            }
            current.output.yield(.discontinuity)
        }
    }

    private func close(reason: RenditionReason) {
        guard !planner.isClosed else { return }
        // Every encoder drains its lookahead at once, not one after the other.
        for rung in rungs { rung.worker.queue.close() }
        for rung in rungs { rung.worker.finish() }
        emit(planner.close(reason: reason, failures: rungs.map(\.worker.failure)))
        passthrough?.finish()
        retiredPassthrough?.finish()
        audio?.output.finish()
    }
}
