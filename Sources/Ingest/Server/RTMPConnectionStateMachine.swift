/// The gating and closing decisions of one RTMP connection, without I/O: whether the handler may
/// read from the socket, whether it may run decoded messages through the session, what an
/// admission's answer means once it arrives, and how the connection closes. Every input returns
/// what the handler must do; `RTMPConnectionHandler` only runs those actions.
///
/// Reading stops (`.wait`) while a publish is being admitted, while the session's media queue is
/// full (the consumer said stop), while the socket cannot take our replies (a peer that does not
/// read), and once the connection is closing. Replies queued and not yet written beyond
/// `outputLimit` close the connection: a peer that never reads is closed, never buffered for. A
/// close flushes what is queued, and is forced after `flushTimeout` if the flush cannot finish.
struct RTMPConnectionStateMachine: Sendable {
    enum Phase: Sendable, Hashable {
        case handshaking
        /// The handshake is done; RTMP messages flow.
        case chunking(Admission)
        /// Queued output is being flushed; the socket closes when it is written or the deadline passes.
        case closing
        case closed
    }

    enum Admission: Sendable, Hashable {
        /// No publish accepted yet (connect, createStream, …).
        case none
        /// A publish is being checked (stream key, limits); messages wait.
        case pending
        /// Publishing: media flows to the live session.
        case publishing
    }

    enum ReadDecision: Sendable, Hashable {
        case read
        case wait
    }

    enum AdmissionOutcome: Sendable, Hashable {
        /// Start the live session and resume reading.
        case publish
        /// Tell the encoder why and go on (it may try another key).
        case refuse
        /// The connection is closing: end the session that was claimed for it.
        case abandon
        /// A refusal for a connection that is closing: nothing to tell anyone.
        case ignore
    }

    enum OutputDecision: Sendable, Hashable {
        case write
        /// More than `outputLimit` bytes would be queued: close without waiting for the peer.
        case closeOverBudget(queued: Int)
    }

    enum CloseDecision: Sendable, Hashable {
        /// Flush what is queued, close, and force the close after `forceAfter`.
        case flushThenClose(forceAfter: Duration)
        /// Already closing or closed.
        case none
    }

    private(set) var phase = Phase.handshaking
    /// The session's media queue is full.
    private(set) var consumerBlocked = false
    /// The socket cannot take more of our output.
    private(set) var writable = true
    /// NIO asked to read while reading was held.
    private(set) var readPending = false
    /// Bytes written to the channel and not yet flushed to the socket.
    private(set) var queuedOutput = 0

    let outputLimit: Int
    let flushTimeout: Duration

    init(outputLimit: Int, flushTimeout: Duration) {
        self.outputLimit = max(outputLimit, 1)
        self.flushTimeout = flushTimeout
    }

    var isChunking: Bool {
        if case .chunking = phase { return true }
        return false
    }

    var isPublishing: Bool { phase == .chunking(.publishing) }

    var isClosing: Bool { phase == .closing || phase == .closed }

    /// Whether decoded messages may run through the session now.
    var mayProcessMessages: Bool {
        guard case .chunking(let admission) = phase else { return false }
        return admission != .pending && !consumerBlocked
    }

    private var readingHeld: Bool {
        switch phase {
        case .handshaking: !writable
        case .chunking(let admission): admission == .pending || consumerBlocked || !writable
        case .closing, .closed: true
        }
    }

    // MARK: Inputs

    /// NIO asks to read from the socket.
    mutating func readRequested() -> ReadDecision {
        guard readingHeld else { return .read }
        if !isClosing { readPending = true }
        return .wait
    }

    mutating func handshakeCompleted() {
        guard phase == .handshaking else { return }
        phase = .chunking(.none)
    }

    /// The session asked for a publish to be authorized; returns whether the check should start.
    mutating func admissionStarted() -> Bool {
        guard phase == .chunking(.none) else { return false }
        phase = .chunking(.pending)
        return true
    }

    mutating func admissionFinished(accepted: Bool) -> AdmissionOutcome {
        guard phase == .chunking(.pending) else { return accepted ? .abandon : .ignore }
        phase = .chunking(accepted ? .publishing : .none)
        return accepted ? .publish : .refuse
    }

    mutating func consumerStopped() {
        consumerBlocked = true
    }

    mutating func consumerResumed() {
        consumerBlocked = false
    }

    mutating func writabilityChanged(to writable: Bool) {
        self.writable = writable
    }

    /// After anything that may have lifted a hold: `.read` when a held read should happen now.
    mutating func resume() -> ReadDecision {
        guard readPending, !readingHeld else { return .wait }
        readPending = false
        return .read
    }

    /// The handler is about to write `bytes` of replies.
    mutating func outputQueued(_ bytes: Int) -> OutputDecision {
        guard bytes > 0 else { return .write }
        let (sum, overflow) = queuedOutput.addingReportingOverflow(bytes)
        queuedOutput = overflow ? Int.max : sum
        return queuedOutput > outputLimit ? .closeOverBudget(queued: queuedOutput) : .write
    }

    /// `bytes` of earlier output reached the socket (or were dropped with it).
    mutating func outputWritten(_ bytes: Int) {
        queuedOutput = max(0, queuedOutput - max(bytes, 0))
    }

    mutating func close() -> CloseDecision {
        guard !isClosing else { return .none }
        phase = .closing
        readPending = false
        return .flushThenClose(forceAfter: flushTimeout)
    }

    /// The flush deadline passed: whether the close must now be forced.
    mutating func flushDeadlinePassed() -> Bool {
        phase == .closing
    }

    mutating func channelInactive() {
        phase = .closed
        readPending = false
        queuedOutput = 0
    }
}
