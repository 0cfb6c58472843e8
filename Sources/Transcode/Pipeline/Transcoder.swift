import EventStore
import Foundation
import Media
import Synchronization

/// Where the transcoder's events go; the integrator appends them to the channel's stream. Called from
/// a task of its own, never from the media path.
public typealias TranscodeEventSink = @Sendable (any DomainEvent) async -> Void

/// Decodes one live source once and encodes the channel's ladder from it.
///
/// Call `run(_:)` once with the source; consume `renditions` concurrently (each announced rendition's
/// `items` must be drained). The control methods may be called from any task while it runs.
public final class Transcoder: Sendable {
    public let channel: String
    public let ladder: Ladder
    public let options: TranscodeOptions
    /// Each rendition once, when its track is known: `audio`, the encoded rungs, and the passthrough
    /// rendition once the source qualifies. Finishes when `run` returns.
    public let renditions: AsyncStream<Rendition>
    let announce: AsyncStream<Rendition>.Continuation
    let sink: TranscodeEventSink
    let control = Mutex(ControlState())
    let planned = Mutex<[String]?>(nil)

    struct ControlState: Sendable {
        var disabled: Set<String> = []
        var audioOnly = false
        var version = 0

        func isEnabled(_ name: String) -> Bool { !audioOnly && !disabled.contains(name) }
    }

    public init(
        channel: String, ladder: Ladder = .default, options: TranscodeOptions = TranscodeOptions(), events: @escaping TranscodeEventSink
    ) {
        LibavLog.quiet
        self.channel = channel
        self.ladder = ladder
        self.options = options
        self.sink = events
        (renditions, announce) = AsyncStream.makeStream(of: Rendition.self)
    }

    /// The names of every video rendition this transcode will make for its source, once the first
    /// frames have settled them (`LadderPlanner.plannedVideoRenditions`); `nil` before.
    public var plannedVideoRenditions: [String]? { planned.withLock { $0 } }

    /// Turns one video rendition (a rung's name, or `source` for a passthrough that replaces none) on
    /// or off. A rendition turned on starts with an IDR at the next IDR point, aligned with the others.
    public func setEnabled(_ enabled: Bool, rendition name: String) {
        control.withLock {
            if enabled { $0.disabled.remove(name) } else { $0.disabled.insert(name) }
            $0.version += 1
        }
    }

    /// Audio only (every video rendition off) or back to the renditions enabled before.
    public func setAudioOnly(_ audioOnly: Bool) {
        control.withLock {
            $0.audioOnly = audioOnly
            $0.version += 1
        }
    }

    /// Transcodes `input` until it ends. Throws (after emitting `TranscodeFailed` and finishing every
    /// rendition) when the input is corrupt or fails, or an encoder cannot be opened.
    ///
    /// The calling task only moves `input` into a short queue; decoding, scaling and dispatching to
    /// the encoders run on a thread of their own (`decode-CHANNEL`), so a transcode never holds a
    /// thread of the cooperative pool that serves HTTP, chat and the other streams. `inputExecutor`
    /// is where `input` is iterated: the producer's own executor, so each hand-off resumes this task
    /// without waking another thread.
    public func run<Input: AsyncSequence>(
        _ input: Input, inputExecutor: (any TaskExecutor)? = nil
    ) async throws(TranscodeError) where Input.Element == MediaItem {
        let (events, eventInput) = AsyncStream.makeStream(of: (any DomainEvent).self)
        let sink = self.sink
        let drain = Task {
            for await event in events {
                TranscodeMetrics.record(event)
                await sink(event)
            }
        }
        let dispatcher = Dispatcher(pipeline: TranscodePipeline(transcoder: self, events: eventInput))
        dispatcher.start(name: "decode-\(channel)")
        await withTaskExecutorPreference(inputExecutor) {
            do {
                for try await item in input {
                    guard !dispatcher.stopped else { break }
                    await dispatcher.queue.push(item)
                }
            } catch {
                dispatcher.inputFailed(.input("\(error)"))
            }
        }
        dispatcher.queue.close()
        await dispatcher.done.wait()
        let failure = dispatcher.failure
        if let failure {
            eventInput.yield(TranscodeFailed(channel: channel, stage: failure.stage, message: failure.description))
            dispatcher.pipeline.abort()
        }
        announce.finish()
        eventInput.finish()
        await drain.value
        if let failure { throw failure }
    }

    /// Items from the source queued for the dispatcher thread. Few: the source's own queue (the
    /// ingest session's) is where backpressure belongs.
    static let inputQueueCapacity = 16

    /// The thread that owns the pipeline while items arrive.
    ///
    /// `@unchecked Sendable`: `pipeline` is used by the dispatcher thread until `done` is signalled,
    /// then only by the task that awaited `done`; `state` is behind its mutex.
    final class Dispatcher: @unchecked Sendable {
        let pipeline: TranscodePipeline
        let queue = FrameQueue<MediaItem>(capacity: Transcoder.inputQueueCapacity)
        let done = Completion()
        private let state = Mutex<(stopped: Bool, failure: TranscodeError?)>((false, nil))

        init(pipeline: TranscodePipeline) {
            self.pipeline = pipeline
        }

        /// The pipeline failed (the source should stop being read) or has finished.
        var stopped: Bool { state.withLock { $0.stopped } }
        var failure: TranscodeError? { state.withLock { $0.failure } }

        func inputFailed(_ error: TranscodeError) {
            state.withLock { if $0.failure == nil { $0.failure = error } }
        }

        func start(name: String) {
            let thread = Thread { [self] in run() }
            thread.name = name
            thread.start()
        }

        private func run() {
            do {
                while let item = queue.pop() { try pipeline.handle(item) }
                if failure == nil { try pipeline.finish() }
            } catch {
                state.withLock { if $0.failure == nil { $0.failure = error } }
                // Later pushes are discarded, so the reading task never waits on a dead thread.
                queue.close()
            }
            state.withLock { $0.stopped = true }
            done.signal()
        }
    }
}
