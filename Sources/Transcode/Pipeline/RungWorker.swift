import CFFmpeg
import Foundation
import Media
import Synchronization

/// One encoded rung: a bounded queue of shared decoded frames, drained by a dedicated thread that
/// scales, encodes with libx264 and yields packets to the rendition's stream.
///
/// `@unchecked Sendable`: `scaler` and `encoder` are touched only by the worker thread once `start()`
/// has been called (before that only by `init`); the other stored properties are Sendable.
final class RungWorker: @unchecked Sendable {
    /// What the dispatcher hands the encoder thread.
    enum Work: Sendable {
        case frame(Frame, forceIDR: Bool)
        /// Timestamps restart after this: drain and reopen the encoder, pass the marker on.
        case discontinuity
    }

    let plan: PlannedRung
    let queue: FrameQueue<Work>
    let output: AsyncStream<MediaItem>.Continuation
    private let settings: VideoEncoder.Settings
    private let scaler: Scaler
    private var encoder: VideoEncoder
    private let finished = Completion()
    private let failureState = Mutex<LibavError?>(nil)
    private let resetRequested = Mutex(false)
    let configuration: AVCDecoderConfigurationRecord
    private let metrics: TranscodeMetrics.Rung

    init(
        plan: PlannedRung, channel: String, timebase: Timebase, preset: String, tuning: LadderTuning, threads: Int,
        queueCapacity: Int, output: AsyncStream<MediaItem>.Continuation
    ) throws(LibavError) {
        self.plan = plan
        metrics = TranscodeMetrics.Rung(channel: channel, rendition: plan.name)
        self.output = output
        queue = FrameQueue(capacity: queueCapacity)
        settings = VideoEncoder.Settings(
            width: plan.width, height: plan.height, timebase: timebase, frameRate: plan.frameRate,
            bitrate: plan.rung.bitrate, profile: plan.rung.profile.rawValue,
            preset: plan.rung.preset ?? preset, threads: threads, tuning: tuning
        )
        encoder = try VideoEncoder(settings, label: plan.name)
        configuration = encoder.configuration
        scaler = Scaler(width: plan.width, height: plan.height)
        output.yield(.track(track))
    }

    var track: TrackInfo {
        TrackInfo(
            kind: .video, codec: .h264, configuration: .avc(configuration), timebase: settings.timebase,
            width: plan.width, height: plan.height, frameRate: plan.frameRate, bitrate: plan.rung.bitrate
        )
    }

    var failure: LibavError? { failureState.withLock { $0 } }

    /// Seconds of media waiting for this encoder.
    var backlog: Double { Double(queue.count) / max(plan.frameRate, 1) }

    func start() {
        let thread = Thread { [self] in self.work() }
        thread.name = "encode-\(plan.name)"
        thread.start()
    }

    /// Overload: drop the queued frames and the encoder's own lookahead, so the CPU is freed now.
    func shed() {
        queue.removeAll()
        resetRequested.withLock { $0 = true }
    }

    /// Closes the queue and blocks the (dispatcher) thread until everything queued is encoded and flushed.
    func finish() {
        queue.close()
        finished.block()
    }

    private func work() {
        while let item = queue.pop() {
            guard failure == nil else { continue }
            do {
                try resetIfRequested()
                switch item {
                case .frame(let frame, let forceIDR):
                    let started = ContinuousClock.now
                    try encode(frame, forceIDR: forceIDR)
                    metrics.encode.recordSeconds((ContinuousClock.now - started).inSeconds)
                    metrics.frames.increment()
                    let queued = queue.count
                    metrics.queued.record(queued)
                    metrics.backlog.record(Double(queued) / max(plan.frameRate, 1))
                case .discontinuity:
                    try drain()
                    output.yield(.discontinuity)
                    encoder = try VideoEncoder(settings, label: plan.name)
                    output.yield(.track(track))
                }
            } catch {
                failureState.withLock { $0 = error }
                queue.removeAll()
            }
        }
        if failure == nil {
            do {
                try resetIfRequested()
                try drain()
            } catch {
                failureState.withLock { $0 = error }
            }
        }
        metrics.stopped()
        output.finish()
        finished.signal()
    }

    private func resetIfRequested() throws(LibavError) {
        let requested = resetRequested.withLock { requested in
            defer { requested = false }
            return requested
        }
        if requested { encoder = try VideoEncoder(settings, label: plan.name) }
    }

    private func encode(_ frame: Frame, forceIDR: Bool) throws(LibavError) {
        let input: Frame
        if frame.width == plan.width, frame.height == plan.height, frame.format == AV_PIX_FMT_YUV420P.rawValue {
            input = try frame.clone()
        } else {
            input = try scaler.scale(frame)
        }
        try encoder.send(input, forceIDR: forceIDR)
        while let packet = try encoder.receive() { output.yield(.packet(packet)) }
    }

    private func drain() throws(LibavError) {
        try encoder.send(nil, forceIDR: false)
        while let packet = try encoder.receive() { output.yield(.packet(packet)) }
    }
}
