import Synchronization

/// Blocked playlist reloads and part requests of one rendition, woken when the playlist state
/// they wait for arrives.
///
/// A `Mutex`-protected class rather than an actor, for two reasons. Cancellation: the handler of
/// `withTaskCancellationHandler` runs synchronously on the cancelling thread, and with a mutex it
/// removes the waiter and resumes it right there; an actor would need a new Task to hop on, and a
/// window where a cancelled waiter still counts. And the packager publishes from its media path:
/// `update(_:)` takes the lock briefly and returns, with no suspension and no await.
///
/// Cost: no Task per waiter. Waiters sit in buckets keyed by what they wait for (a live stream
/// has few distinct keys: the next part or two), so an update looks at each key once and wakes a
/// whole bucket. Deadlines share one timeout, so they expire in arrival order: one FIFO and ONE
/// timer task per object, which runs only while someone waits and sleeps until the oldest deadline.
/// A waiter costs a dictionary slot (id and continuation) plus one FIFO entry
/// (docs/benchmarks.md#playlist-waiters).
///
/// How the gateway serves `GET .../RENDITION/index.m3u8?QUERY` with these pieces:
///
///     let directives = try PlaylistDirectives(rawQuery: query)          // 400 on error
///     if let blocking = directives.blocking {
///         switch await waiters.wait(for: .playlist(blocking)) {
///         case .ready: break
///         case .badRequest(let why): return 400(why)
///         case .timedOut: return 503
///         case .notFound, .cancelled: return                           // not for playlists
///         }
///     }
///     return MediaPlaylistRenderer.live(latestState, renditionReports: others, skip: directives.skip)
///
/// and a part `sM.pN.m4s` the store does not have yet: `wait(for: .part(PartRequest(...)))`,
/// then serve it on `.ready`, 404 on `.notFound`, 503 on `.timedOut`. The packager calls
/// `update(_:)` after every `partReady`/`segmentReady`, and `finish()` at the end.
public final class PlaylistWaiters: Sendable {
    public enum Request: Sendable, Hashable {
        case playlist(BlockingRequest)
        case part(PartRequest)

        func decide(against state: MediaPlaylistState) -> BlockingDecision {
            switch self {
            case .playlist(let request): request.decide(against: state)
            case .part(let request): request.decide(against: state)
            }
        }
    }

    public enum Outcome: Sendable, Hashable {
        /// Answer now (render the playlist, serve the part) from the newest state.
        case ready
        /// 400 with the reason (only when the state a waiter was decided against says so).
        case badRequest(String)
        /// 404 with the reason: a part that will not exist.
        case notFound(String)
        /// The timeout (three target durations) passed: 503.
        case timedOut
        /// The waiting task was cancelled (the client went away).
        case cancelled
    }

    private typealias Continuation = UnsafeContinuation<Outcome, Never>

    private struct Deadline {
        var instant: ContinuousClock.Instant
        var request: Request
        var id: UInt64
    }

    /// Continuations are resumed exactly once because every path that resumes one first removes
    /// it from `buckets` under the lock; hence `UnsafeContinuation`, which saves the checked
    /// variant's extra allocation per waiter.
    private struct Storage {
        var state: MediaPlaylistState?
        var finished = false
        var buckets: [Request: [UInt64: Continuation]] = [:]
        var count = 0
        var nextID: UInt64 = 0
        var deadlines: [Deadline] = []
        var head = 0
        var timerRunning = false

        mutating func remove(_ request: Request, _ id: UInt64) -> Continuation? {
            guard let continuation = buckets[request]?.removeValue(forKey: id) else { return nil }
            if buckets[request]?.isEmpty == true { buckets[request] = nil }
            count -= 1
            return continuation
        }

        func isWaiting(_ deadline: Deadline) -> Bool {
            buckets[deadline.request]?[deadline.id] != nil
        }

        /// Drops FIFO entries of waiters already answered once they outnumber the waiting ones,
        /// so a busy stream's FIFO stays proportional to the waiters, not to the requests served.
        mutating func compact() {
            let queued = deadlines.count - head
            if queued > 2 * count + 1024 {
                deadlines = deadlines[head...].filter { isWaiting($0) }
                head = 0
            } else if head > 1024, head * 2 > deadlines.count {
                deadlines.removeFirst(head)
                head = 0
            }
        }
    }

    private let storage = Mutex(Storage())
    /// How long a request waits before `.timedOut`: three target durations (RFC 8216bis §6.2.5.2).
    public let timeout: Duration

    public init(timeout: Duration) {
        self.timeout = timeout
    }

    public convenience init(configuration: MediaPlaylistConfiguration) {
        self.init(timeout: configuration.blockingTimeout)
    }

    /// Requests waiting now.
    public var count: Int { storage.withLock { $0.count } }

    /// Waits until `request` is decided against a state given to `update(_:)`; answers at once
    /// when the newest state already decides it. Before the first update everything waits.
    public func wait(for request: Request) async -> Outcome {
        let id = storage.withLock { storage in
            storage.nextID += 1
            return storage.nextID
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: Continuation) in
                let (immediate, startTimer) = storage.withLock { storage -> (Outcome?, Bool) in
                    // The cancellation handler may have run before this point and found nothing.
                    if Task.isCancelled { return (.cancelled, false) }
                    if let state = storage.state {
                        if let outcome = Self.outcome(of: request, against: state, finished: storage.finished) {
                            return (outcome, false)
                        }
                    } else if storage.finished {
                        return (Self.finishedOutcome(of: request), false)
                    }
                    storage.buckets[request, default: [:]][id] = continuation
                    storage.count += 1
                    storage.deadlines.append(Deadline(instant: .now.advanced(by: timeout), request: request, id: id))
                    guard !storage.timerRunning else { return (nil, false) }
                    storage.timerRunning = true
                    return (nil, true)
                }
                if let immediate { continuation.resume(returning: immediate) }
                if startTimer { Task { await self.runTimer() } }
            }
        } onCancel: {
            storage.withLock { $0.remove(request, id) }?.resume(returning: .cancelled)
        }
    }

    /// Records the newest state and wakes every waiter it decides. Cheap when nothing waits.
    public func update(_ state: MediaPlaylistState) {
        let woken = storage.withLock { storage -> [Woken] in
            storage.state = state
            var woken: [Woken] = []
            for request in Array(storage.buckets.keys) {
                guard let outcome = Self.outcome(of: request, against: state, finished: storage.finished),
                    let bucket = storage.buckets.removeValue(forKey: request)
                else { continue }
                storage.count -= bucket.count
                woken.reserveCapacity(woken.count + bucket.count)
                for (id, continuation) in bucket { woken.append(Woken(id: id, continuation: continuation, outcome: outcome)) }
            }
            return woken
        }
        Self.resume(woken)
    }

    private struct Woken {
        var id: UInt64
        var continuation: Continuation
        var outcome: Outcome
    }

    /// Oldest first: fair, and the order a task group completes children cheaply in (the runtime
    /// detaches a finished child by walking its list, so random order costs O(n) per child).
    private static func resume(_ woken: [Woken]) {
        for waiter in woken.sorted(by: { $0.id < $1.id }) { waiter.continuation.resume(returning: waiter.outcome) }
    }

    /// The stream is over (EXT-X-ENDLIST, or the rendition is gone): wakes everyone. Playlist
    /// requests are ready (the final playlist answers them); part requests are ready if the newest
    /// state has the part, else not found. Later waits are answered at once the same way.
    public func finish() {
        let woken = storage.withLock { storage -> [Woken] in
            storage.finished = true
            var woken: [Woken] = []
            woken.reserveCapacity(storage.count)
            for (request, bucket) in storage.buckets {
                let outcome =
                    storage.state.flatMap { Self.outcome(of: request, against: $0, finished: true) }
                    ?? Self.finishedOutcome(of: request)
                for (id, continuation) in bucket { woken.append(Woken(id: id, continuation: continuation, outcome: outcome)) }
            }
            storage.buckets = [:]
            storage.count = 0
            storage.deadlines = []
            storage.head = 0
            return woken
        }
        Self.resume(woken)
    }

    private static func outcome(of request: Request, against state: MediaPlaylistState, finished: Bool) -> Outcome? {
        switch request.decide(against: state) {
        case .ready: return .ready
        case .badRequest(let reason): return .badRequest(reason)
        case .notFound(let reason): return .notFound(reason)
        case .wait: return finished ? finishedOutcome(of: request) : nil
        }
    }

    private static func finishedOutcome(of request: Request) -> Outcome {
        switch request {
        case .playlist: .ready
        case .part(let part): .notFound("the stream ended before \(HLSResource.part(msn: part.msn, index: part.index).name) was made")
        }
    }

    /// The one timer: expires due waiters, sleeps until the oldest remaining deadline, and ends
    /// when nobody waits (the next `wait` starts it again).
    private func runTimer() async {
        while true {
            let (expired, next) = storage.withLock { storage -> ([Continuation], ContinuousClock.Instant?) in
                let now = ContinuousClock.now
                var expired: [Continuation] = []
                while storage.head < storage.deadlines.count {
                    let deadline = storage.deadlines[storage.head]
                    if storage.isWaiting(deadline) {
                        guard deadline.instant <= now else { break }
                        if let continuation = storage.remove(deadline.request, deadline.id) { expired.append(continuation) }
                    }
                    storage.head += 1
                }
                storage.compact()
                guard storage.head < storage.deadlines.count else {
                    storage.deadlines = []
                    storage.head = 0
                    storage.timerRunning = false
                    return (expired, nil)
                }
                return (expired, storage.deadlines[storage.head].instant)
            }
            for continuation in expired { continuation.resume(returning: .timedOut) }
            guard let next else { return }
            try? await Task.sleep(until: next, tolerance: .milliseconds(10), clock: .continuous)
        }
    }
}
