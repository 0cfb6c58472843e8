/// What the ladder policy needs of a transcoder: `Transcoder` conforms; tests use a recorder.
public protocol QualityControl: Sendable {
    func setEnabled(_ enabled: Bool, rendition name: String)
    func setAudioOnly(_ audioOnly: Bool)
}

extension Transcoder: QualityControl {}
