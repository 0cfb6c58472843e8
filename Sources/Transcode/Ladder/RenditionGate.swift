/// Whether one rendition is running, and when it may start: a rendition only starts on an IDR point,
/// so a turned-on rung joins the ladder at the next grid point (or source keyframe) already aligned.
///
/// Sans-I/O: the control API and the overload governor change what is wanted; each frame (or, for the
/// passthrough rendition, each source packet) asks whether to deliver it.
struct RenditionGate: Sendable {
    enum Phase: Sendable, Hashable {
        case running
        case waiting(RenditionReason)
        case stopped(RenditionReason)
    }

    enum Transition: Sendable, Hashable {
        case started(RenditionReason)
        case stopped(RenditionReason)
    }

    private(set) var phase: Phase = .waiting(.streamStarted)
    private(set) var enabledByControl = true
    private(set) var shedByOverload = false

    var isRunning: Bool { phase == .running }
    /// Neither turned off nor shed, so running or about to start at the next IDR point.
    var isWanted: Bool { wanted && phase != .stopped(.failed) }
    private var wanted: Bool { enabledByControl && !shedByOverload }

    mutating func setEnabled(_ enabled: Bool) -> Transition? {
        guard enabled != enabledByControl else { return nil }
        enabledByControl = enabled
        return enabled ? resume(.enabled) : halt(.disabled)
    }

    mutating func shed() -> Transition? {
        guard !shedByOverload else { return nil }
        shedByOverload = true
        return halt(.overload)
    }

    mutating func restore() -> Transition? {
        guard shedByOverload else { return nil }
        shedByOverload = false
        return resume(.headroomRestored)
    }

    mutating func fail() -> Transition? {
        let wasRunning = isRunning
        phase = .stopped(.failed)
        return wasRunning ? .stopped(.failed) : nil
    }

    /// Whether to deliver a frame, whether the encoder must make it an IDR, and any start it causes.
    mutating func admit(isIDR: Bool) -> (deliver: Bool, forceIDR: Bool, transition: Transition?) {
        switch phase {
        case .running:
            return (true, isIDR, nil)
        case .waiting(let reason):
            guard isIDR else { return (false, false, nil) }
            phase = .running
            return (true, true, .started(reason))
        case .stopped:
            return (false, false, nil)
        }
    }

    private mutating func halt(_ reason: RenditionReason) -> Transition? {
        switch phase {
        case .running:
            phase = .stopped(reason)
            return .stopped(reason)
        case .waiting:
            phase = .stopped(reason)
            return nil
        case .stopped(let old):
            if old == .failed { return nil }
            phase = .stopped(reason)
            return nil
        }
    }

    private mutating func resume(_ reason: RenditionReason) -> Transition? {
        guard wanted, case .stopped(let old) = phase, old != .failed else { return nil }
        phase = .waiting(reason)
        return nil
    }
}
