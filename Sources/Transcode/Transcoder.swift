import EventStore
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

    struct ControlState: Sendable {
        var disabled: Set<String> = []
        var audioOnly = false
        var version = 0

        func isEnabled(_ name: String) -> Bool { !audioOnly && !disabled.contains(name) }
    }

    public init(channel: String, ladder: Ladder = .default, options: TranscodeOptions = TranscodeOptions(), events: @escaping TranscodeEventSink) {
        LibavLog.quiet
        self.channel = channel
        self.ladder = ladder
        self.options = options
        self.sink = events
        (renditions, announce) = AsyncStream.makeStream(of: Rendition.self)
    }

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
    public func run<Input: AsyncSequence>(_ input: Input) async throws(TranscodeError) where Input.Element == MediaItem {
        let (events, eventInput) = AsyncStream.makeStream(of: (any DomainEvent).self)
        let sink = self.sink
        let drain = Task {
            for await event in events { await sink(event) }
        }
        let pipeline = TranscodePipeline(transcoder: self, events: eventInput)
        var failure: TranscodeError?
        do {
            var iterator = input.makeAsyncIterator()
            while true {
                let item: MediaItem?
                do {
                    item = try await iterator.next()
                } catch {
                    throw TranscodeError.input("\(error)")
                }
                guard let item else { break }
                try await pipeline.handle(item)
            }
            try await pipeline.finish()
        } catch let error as TranscodeError {
            failure = error
        } catch {
            failure = .input("\(error)")
        }
        if let failure {
            eventInput.yield(TranscodeFailed(channel: channel, stage: failure.stage, message: failure.description))
            await pipeline.abort()
        }
        announce.finish()
        eventInput.finish()
        await drain.value
        if let failure { throw failure }
    }
}
