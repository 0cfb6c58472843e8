import EventStore
import Synchronization
import Transcode

/// Which `QualityChanged` last changed each rendition of one session's transcoder, so the
/// `RenditionStarted`/`RenditionStopped` that follow (reasons `enabled`/`disabled`, emitted later,
/// when the decoding thread gets to them) name it as their cause. It sits between the quality
/// controller and the transcoder (`control(_:)`), mirroring what it passes on; a call that changes
/// nothing keeps the earlier cause.
final class QualityCauses: Sendable {
    private struct State {
        var pending: EventCause?
        var disabled: Set<String> = []
        var audioOnly = false
        var sequence = 0
        var renditions: [String: (sequence: Int, cause: EventCause?)] = [:]
        var audioOnlyChange: (sequence: Int, cause: EventCause?)?
    }

    private let state = Mutex(State())

    /// The cause of `event` when it is a rendition start or stop the controller asked for.
    func cause(of event: any DomainEvent) -> EventCause? {
        if let started = event as? RenditionStarted, started.reason == .enabled { return cause(ofRendition: started.rendition) }
        if let stopped = event as? RenditionStopped, stopped.reason == .disabled { return cause(ofRendition: stopped.rendition) }
        return nil
    }

    func cause(ofRendition name: String) -> EventCause? {
        state.withLock { state in
            let own = state.renditions[name]
            guard let audio = state.audioOnlyChange else { return own?.cause }
            guard let own else { return audio.cause }
            return own.sequence > audio.sequence ? own.cause : audio.cause
        }
    }

    /// `control` as the quality controller should see it.
    func control(_ control: some QualityControl) -> some QualityControl {
        Attributed(control: control, causes: self)
    }

    fileprivate func attribute(to cause: EventCause?) {
        state.withLock { $0.pending = cause }
    }

    fileprivate func setEnabled(_ enabled: Bool, rendition name: String) {
        state.withLock { state in
            let changed = enabled ? state.disabled.remove(name) != nil : state.disabled.insert(name).inserted
            guard changed else { return }
            state.sequence += 1
            state.renditions[name] = (state.sequence, state.pending)
        }
    }

    fileprivate func setAudioOnly(_ audioOnly: Bool) {
        state.withLock { state in
            guard audioOnly != state.audioOnly else { return }
            state.audioOnly = audioOnly
            state.sequence += 1
            state.audioOnlyChange = (state.sequence, state.pending)
        }
    }

    private struct Attributed<Control: QualityControl>: QualityControl {
        let control: Control
        let causes: QualityCauses

        func setEnabled(_ enabled: Bool, rendition name: String) {
            causes.setEnabled(enabled, rendition: name)
            control.setEnabled(enabled, rendition: name)
        }

        func setAudioOnly(_ audioOnly: Bool) {
            causes.setAudioOnly(audioOnly)
            control.setAudioOnly(audioOnly)
        }

        func attributeChanges(to cause: EventCause?) {
            causes.attribute(to: cause)
            control.attributeChanges(to: cause)
        }
    }
}
