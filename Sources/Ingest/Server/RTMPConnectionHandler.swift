import EventStore
import Logging
import Media
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Drives one TCP connection: handshake, chunk decoder, `RTMPSession`, and the live session's
/// media queue. Everything here runs on the channel's event loop.
final class RTMPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let server: RTMPServer
    /// "rtmp", or "rtmps" behind TLS: the sessions' and events' `protocol`.
    private let transport: String
    private var machine: RTMPConnectionStateMachine
    private var handshake = RTMPHandshake()
    private var handshakeBuffer = ByteBuffer()
    private var decoder: RTMPChunkDecoder
    private var encoder = RTMPChunkEncoder()
    private var session: RTMPSession
    private var outbound = ByteBuffer()

    private var live: LiveSession?
    private var token: UInt64 = 0
    /// Which input of its session this connection is (`?role=backup`).
    private var role = IngestInputRole.primary
    private var endReason: (StreamEnded.Reason, String?)?
    private var stats = IngestStatsAccumulator()
    private var bytesAtLastSample: UInt64 = 0
    private var lastSample = NIODeadline.now()
    private var lastMedia = NIODeadline.now()

    private var pendingMedia: [MediaItem] = []
    private var lastMediaFlush = NIODeadline.now()

    private var entry: ConnectionRoster.Entry?
    private var explainingRefusal = false

    private var pacing: ReadPacing?

    private var stageTimeout: Scheduled<Void>?
    private var forcedClose: Scheduled<Void>?
    private var ticker: Scheduled<Void>?
    private var remoteAddress = "unknown"
    private var remoteHost = "unknown"
    private var logger: Logger

    init(server: RTMPServer, transport: String = "rtmp") {
        self.server = server
        self.transport = transport
        decoder = RTMPChunkDecoder(maxMessageSize: server.configuration.maxMessageSizeBeforePublish)
        session = RTMPSession(
            configuration: .init(
                application: server.configuration.application,
                windowAcknowledgementSize: server.configuration.windowAcknowledgementSize,
                outgoingChunkSize: server.configuration.outgoingChunkSize))
        logger = server.logger
        machine = RTMPConnectionStateMachine(
            outputLimit: server.configuration.maxQueuedOutput, flushTimeout: server.configuration.closeFlushTimeout)
    }

    // MARK: Lifecycle

    func channelActive(context: ChannelHandlerContext) {
        if let address = context.remoteAddress {
            remoteHost = address.ipAddress ?? "unknown"
            remoteAddress = address.port.map { remoteHost.contains(":") ? "[\(remoteHost)]:\($0)" : "\(remoteHost):\($0)" } ?? remoteHost
        }
        logger[metadataKey: "remote"] = "\(remoteAddress)"
        let channel = context.channel
        switch server.roster.admit(host: remoteHost, close: { channel.close(promise: nil) }) {
        case .admitted(let entry):
            self.entry = entry
            entry.setClosable(true)
        case .refused(.addressFull, let inARow):
            if AddressConnectionCounts.shouldLog(refusals: inARow) {
                let limit = server.configuration.maxConnectionsPerAddress
                logger.warning(
                    "closing connection: \(limit) connections from this address are already open, none of them idle",
                    metadata: ["refused_in_a_row": "\(inARow)"])
            }
            context.close(promise: nil)
            return
        case .refused(.full, let inARow):
            let limit = server.configuration.maxConnections
            if AddressConnectionCounts.shouldLog(refusals: inARow) {
                logger.warning(
                    "refusing connection: \(limit) connections already open, none of them idle",
                    metadata: ["refused_in_a_row": "\(inARow)"])
            }
            guard server.explainingRefusals.wrappingAdd(1, ordering: .relaxed).newValue <= RTMPServer.maxExplainedRefusals else {
                server.explainingRefusals.subtract(1, ordering: .relaxed)
                context.close(promise: nil)
                return
            }
            // Finish the handshake anyway so the refusal reaches the encoder's log.
            explainingRefusal = true
            session.refuseConnect("the server is at its limit of \(limit) connections; try again later")
        }
        armStageTimeout(context: context, after: server.configuration.handshakeTimeout, stage: "handshake")
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stageTimeout?.cancel()
        ticker?.cancel()
        if let entry {
            server.roster.remove(entry)
            self.entry = nil
        }
        if explainingRefusal {
            server.explainingRefusals.subtract(1, ordering: .relaxed)
            explainingRefusal = false
        }
        flushMedia()
        if let live {
            sampleStats()
            live.demand.setResume(nil, for: role)
            let (reason, detail) = endReason ?? (.encoderClosed, nil)
            let registry = server.registry
            let token = token
            Task { await registry.connectionEnded(live.id, token: token, reason: reason, detail: detail) }
            self.live = nil
        }
        forcedClose?.cancel()
        machine.channelInactive()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.info("connection error: \(error)")
        context.close(promise: nil)
    }

    // MARK: Reading

    func read(context: ChannelHandlerContext) {
        if machine.readRequested() == .read { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        machine.writabilityChanged(to: context.channel.isWritable)
        if machine.resume() == .read { context.read() }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if live == nil { entry?.touch() }
        switch machine.phase {
        case .closing, .closed:
            return
        case .handshaking:
            handshakeBuffer.writeBuffer(&bytes)
            do {
                for output in try handshake.receive(&handshakeBuffer) {
                    switch output {
                    case .send(let reply):
                        outbound.writeBytes(reply)
                        if handshake.state == .waitingForC2 {
                            armStageTimeout(context: context, after: server.configuration.handshakeTimeout, stage: "handshake (C2)")
                        }
                    case .complete:
                        machine.handshakeCompleted()
                        armStageTimeout(context: context, after: server.configuration.publishTimeout, stage: "publish")
                    }
                }
            } catch {
                logger.info("handshake refused: \(error)")
                close(context: context)
                return
            }
            writePending(context: context)
            guard machine.isChunking else { return }
            decoder.append(handshakeBuffer)
            handshakeBuffer = ByteBuffer()
        case .chunking:
            let count = bytes.readableBytes
            decoder.append(bytes)
            if let mark = pacing?.read(count, at: .now()) { setReceiveLowWatermark(mark, context: context) }
        }
        process(context: context)
    }

    /// Runs buffered messages through the session until it must wait (admission, a slow consumer).
    private func process(context: ChannelHandlerContext) {
        while machine.mayProcessMessages {
            let message: RTMPMessage?
            do {
                message = try decoder.nextMessage()
            } catch {
                perform(session.fail(error), context: context)
                break
            }
            guard let message else { break }
            perform(session.receive(message), context: context)
        }
        if machine.isChunking, let ack = session.bytesReceived(total: decoder.bytesReceived) {
            encoder.encode(ack, into: &outbound)
        }
        writePending(context: context)
        scheduleMediaFlush(context: context)
    }

    /// Hands pending items over once the batch interval has passed. No timer: live media keeps
    /// arriving, and the stats tick flushes what a pausing encoder left behind.
    private func scheduleMediaFlush(context: ChannelHandlerContext) {
        guard !pendingMedia.isEmpty else { return }
        // Paced reads are already about one batch interval apart.
        let paced = (pacing?.lowWatermark ?? 1) > 1
        guard paced || NIODeadline.now() - lastMediaFlush >= TimeAmount(server.configuration.mediaBatchInterval)
        else { return }
        flushMedia()
    }

    private func flushMedia() {
        // Measured from the last hand-off: an empty flush (the tick's) must not hold back the next item.
        guard let live, !pendingMedia.isEmpty else { return }
        lastMediaFlush = .now()
        let items = pendingMedia
        pendingMedia.removeAll(keepingCapacity: true)
        switch live.yield(contentsOf: items, from: role) {
        case .produceMore:
            break
        case .stopProducing:
            machine.consumerStopped()
        case .dropped:
            for case .packet in items { stats.recordDropped() }
        }
    }

    private func resumeReading(context: ChannelHandlerContext) {
        guard machine.isChunking else { return }
        process(context: context)
        if machine.resume() == .read { context.read() }
    }

    // MARK: Actions

    private func perform(_ actions: [RTMPSession.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let message):
                encoder.encode(message, into: &outbound)
            case .authorize(let request):
                admit(request, context: context)
            case .refused(let refusal):
                let request = refusal.streamKey.map {
                    RTMPSession.PublishRequest(application: refusal.application ?? "", streamKey: $0, tcURL: nil, messageStreamID: 0)
                }
                server.rejected(
                    .malformedRequest(refusal.detail), request: request, remoteAddress: remoteAddress, transport: transport,
                    detail: refusal.detail)
            case .media(let item):
                deliver(item)
            case .ready(let description):
                guard let live else { break }
                live.streamDescription = description
                if live.claimAnnouncement() {
                    server.emitter.emit(
                        SessionRegistry.started(live), stream: live.streamID, actor: EventActor(.encoder, id: remoteAddress))
                }
            case .close(let reason):
                switch reason {
                case .encoderClosed:
                    // Some encoders (GStreamer's rtmp2sink) treat our closing first as an error: let them hang up.
                    endReason = endReason ?? (.encoderClosed, nil)
                    armStageTimeout(context: context, after: .seconds(2), stage: "disconnect after unpublish")
                    continue
                case .protocolError(let detail):
                    logger.info("closing: \(detail)")
                    endReason = endReason ?? (.protocolError, detail)
                case .refused:
                    break
                }
                close(context: context)
            }
        }
    }

    private func deliver(_ item: MediaItem) {
        guard live != nil else { return }
        if case .packet(let packet) = item {
            stats.record(packet)
            lastMedia = .now()
        }
        pendingMedia.append(item)
        if pendingMedia.count >= Self.maximumBatch { flushMedia() }
    }

    /// A batch never holds more than this, so a fast sender overshoots the queue's high watermark by at most this.
    static let maximumBatch = 32

    private func admit(_ request: RTMPSession.PublishRequest, context: ChannelHandlerContext) {
        guard machine.admissionStarted() else { return }
        entry?.setClosable(false)
        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let boundContext = NIOLoopBound(context, eventLoop: loop)
        let connectionToken = UInt64.random(in: 1...UInt64.max)
        role = request.role
        let connection = SessionRegistry.Connection(token: connectionToken, executor: EventLoopTaskExecutor(loop), role: request.role) {
            code, description in
            loop.execute { handler.value.stop(code: code, description: description, context: boundContext.value) }
        }
        let server = server
        let remoteAddress = remoteAddress
        let remoteHost = remoteHost
        let transport = transport
        loop.makeFutureWithTask {
            await server.admit(request, remoteAddress: remoteAddress, host: remoteHost, transport: transport, connection: connection)
        }.assumeIsolated().whenSuccess { admission in
            self.admitted(admission, token: connectionToken, context: context)
        }
    }

    private func admitted(_ admission: RTMPServer.Admission, token: UInt64, context: ChannelHandlerContext) {
        let live: LiveSession?
        switch admission {
        case .refused: live = nil
        case .started(let session), .resumed(let session), .attached(let session): live = session
        }
        switch machine.admissionFinished(accepted: live != nil) {
        case .refuse:
            entry?.setClosable(true)
            if case .refused(let reason) = admission {
                perform(session.publishRefused(code: reason.statusCode, description: reason.message), context: context)
            }
            resumeReading(context: context)
            return
        case .ignore:
            return
        case .abandon:
            // The encoder left while its key was checked: the session it claimed waits out its grace.
            if let live {
                Task { [registry = server.registry] in
                    await registry.connectionEnded(live.id, token: token, reason: .encoderClosed, detail: nil)
                }
            }
            return
        case .publish:
            break
        }
        guard let live else { return }
        decoder.setLimits(maxMessageSize: server.configuration.maxMessageSize)
        self.live = live
        self.token = token
        stageTimeout?.cancel()
        lastMedia = .now()
        lastSample = .now()
        bytesAtLastSample = decoder.bytesReceived
        logger[metadataKey: "session"] = "\(live.id)"
        logger.info("publishing", metadata: ["channel": "\(live.channelID)"])

        let loop = context.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let boundContext = NIOLoopBound(context, eventLoop: loop)
        live.demand.setResume(
            {
                loop.execute {
                    handler.value.machine.consumerResumed()
                    handler.value.resumeReading(context: boundContext.value)
                }
            }, for: role)
        scheduleTick(context: context)
        startPacing(context: context)
        perform(session.publishAccepted(), context: context)
        resumeReading(context: context)
    }

    private func startPacing(context: ChannelHandlerContext) {
        let interval = server.configuration.mediaBatchInterval
        guard interval > .zero, let options = context.channel.syncOptions,
            let receiveBuffer = try? options.getOption(ChannelOptions.socketOption(.so_rcvbuf))
        else { return }
        pacing = ReadPacing(interval: interval, receiveBufferSize: Int(receiveBuffer))
    }

    /// Applies a new mark. Lowering it makes the kernel signal what the socket already holds.
    private func setReceiveLowWatermark(_ mark: Int, context: ChannelHandlerContext) {
        guard let options = context.channel.syncOptions else { return }
        do {
            try options.setOption(ChannelOptions.socketOption(Self.receiveLowWatermark), value: SocketOptionValue(mark))
        } catch {
            logger.debug("cannot pace reads (SO_RCVLOWAT \(mark)): \(error)")
            pacing = nil
        }
    }

    static let receiveLowWatermark = NIOBSDSocket.Option(rawValue: SO_RCVLOWAT)

    // MARK: Timers

    /// Every connection ticks on the same boundaries of the monotonic clock, so one wake-up of
    /// a loop serves all of its connections and their stats events go out together.
    private func scheduleTick(context: ChannelHandlerContext) {
        let period = UInt64(max(TimeAmount(server.configuration.statsInterval).nanoseconds, 1_000_000))
        let now = NIODeadline.now().uptimeNanoseconds
        var next = (now / period + 1) * period
        if next - now < period / 2 { next += period }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        ticker = context.eventLoop.scheduleTask(deadline: .uptimeNanoseconds(next)) {
            handler.value.tick(context: boundContext.value)
            if handler.value.machine.isChunking { handler.value.scheduleTick(context: boundContext.value) }
        }
    }

    private func tick(context: ChannelHandlerContext) {
        guard machine.isChunking, live != nil, endReason == nil else { return }
        let now = NIODeadline.now()
        var unpaced = false
        if let (mark, stalled) = pacing?.tick(at: now) {
            unpaced = stalled
            if let mark { setReceiveLowWatermark(mark, context: context) }
        }
        flushMedia()
        sampleStats()
        // Media the pacing held back is read next: judge idleness on the following tick.
        if !machine.consumerBlocked, !unpaced, now - lastMedia > TimeAmount(server.configuration.idleTimeout) {
            let seconds = server.configuration.idleTimeout.inSeconds
            endReason = (.timeout, "no media for \(Int(seconds)) s")
            logger.info("no media for \(seconds) s, closing")
            perform(
                session.stop(
                    code: "NetStream.Publish.Idle",
                    description: "no audio or video received for \(Int(seconds)) s; check the encoder and publish again"), context: context)
            close(context: context)
        }
    }

    private func sampleStats() {
        guard let live, !live.isEnded else { return }
        let now = NIODeadline.now()
        let interval = Duration.nanoseconds((now - lastSample).nanoseconds)
        lastSample = now
        let total = decoder.bytesReceived
        var sample = stats.sample(
            totalBytes: total, interval: interval, queueDepth: live.queueDepth, backpressured: machine.consumerBlocked)
        if let mark = pacing?.lowWatermark, mark > 1 { sample.readPacingBytes = mark }
        live.update(stats: sample, newBytes: total &- bytesAtLastSample, from: role)
        IngestMetrics.sampled(sample, newBytes: total &- bytesAtLastSample, protocol: transport)
        bytesAtLastSample = total
        // Until the sequence headers announce the stream, samples update the live view only:
        // in the log, a session's first event is always its StreamStarted.
        guard live.isAnnounced else { return }
        live.summarise(sample, emitter: server.emitter, actor: EventActor(.encoder, id: remoteAddress), from: role)
    }

    private func armStageTimeout(context: ChannelHandlerContext, after duration: Duration, stage: String) {
        stageTimeout?.cancel()
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        stageTimeout = context.eventLoop.scheduleTask(in: .init(duration)) {
            handler.value.logger.info("\(stage) did not finish within \(duration), closing")
            handler.value.close(context: boundContext.value)
        }
    }

    /// The registry ended the session (kick, shutdown): tell the encoder, then close.
    private func stop(code: String, description: String, context: ChannelHandlerContext) {
        guard machine.isChunking else { return }
        flushMedia()
        live = nil
        perform(session.stop(code: code, description: description), context: context)
        close(context: context)
    }

    // MARK: Writing

    private func writePending(context: ChannelHandlerContext) {
        guard outbound.readableBytes > 0, !machine.isClosing else { return }
        let bytes = outbound
        outbound = ByteBuffer()
        write(bytes, context: context)
    }

    /// Writes `bytes` unless they take the connection's queued output past its limit.
    private func write(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        let count = bytes.readableBytes
        switch machine.outputQueued(count) {
        case .write:
            break
        case .closeOverBudget(let queued):
            logger.info("closing: \(queued) bytes of replies queued and the peer is not reading them")
            endReason = endReason ?? (.protocolError, "the encoder stopped reading the server's replies")
            forceClose(context: context)
            return
        }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            handler.value.machine.outputWritten(count)
        }
    }

    private func close(context: ChannelHandlerContext) {
        guard case .flushThenClose(let deadline) = machine.close() else { return }
        stageTimeout?.cancel()
        ticker?.cancel()
        let bytes = outbound
        outbound = ByteBuffer()
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let boundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        forcedClose = context.eventLoop.scheduleTask(in: .init(deadline)) {
            guard handler.value.machine.flushDeadlinePassed() else { return }
            handler.value.logger.info("closing: queued replies not written within \(deadline)")
            boundContext.value.close(promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(bytes)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// Closes at once, dropping whatever is queued.
    private func forceClose(context: ChannelHandlerContext) {
        _ = machine.close()
        stageTimeout?.cancel()
        ticker?.cancel()
        outbound = ByteBuffer()
        context.close(promise: nil)
    }
}
