import EventStore

/// What the ladder policy needs of a transcoder: `Transcoder` conforms; tests use a recorder.
public protocol QualityControl: Sendable {
    func setEnabled(_ enabled: Bool, rendition name: String)
    func setAudioOnly(_ audioOnly: Bool)
    /// The event (a `QualityChanged`) that the calls which follow answer; the renditions they
    /// start or stop name it as their cause. Nil: no event (a level read back from a read model).
    func attributeChanges(to cause: EventCause?)
}

extension QualityControl {
    public func attributeChanges(to cause: EventCause?) {}
}

extension Transcoder: QualityControl {}
