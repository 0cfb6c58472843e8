import Media

/// Which renditions the live multivariant playlist lists, decided from each rendition's state.
///
/// A player reads the multivariant playlist once, so whatever it leaves out stays out: a playlist
/// served while audio's first segment is still being encoded makes a silent player for the whole
/// session. So while an active audio rendition has no segment yet, there is no playlist (the
/// gateway answers "retry in a second"), until `audioWaitOver`: a source whose audio never
/// produces must not keep its video off the air.
public struct MultivariantListing: Sendable {
    public struct Rendition: Sendable {
        public var kind: TrackKind
        /// Set once a video rendition has a complete segment.
        public var info: VariantInfo?
        /// Set once an audio rendition has a complete segment.
        public var audio: AudioRenditionInfo?
        public var active: Bool

        public init(kind: TrackKind, info: VariantInfo?, audio: AudioRenditionInfo?, active: Bool) {
            self.kind = kind
            self.info = info
            self.audio = audio
            self.active = active
        }
    }

    public var renditions: [Rendition]
    public var audioWaitOver: Bool

    public init(renditions: [Rendition], audioWaitOver: Bool) {
        self.renditions = renditions
        self.audioWaitOver = audioWaitOver
    }

    /// How long after the session starts audio may hold the playlist back: a few segments, more
    /// than a loaded machine's first-segment delay, less than a viewer's patience.
    public static func audioWait(targetDuration: Int) -> Double { Double(max(4 * targetDuration, 8)) }

    public func playlist() -> String? {
        let audio = renditions.compactMap(\.audio).first
        let audioPending = audio == nil && renditions.contains { $0.kind == .audio && $0.active }
        if audioPending, !audioWaitOver { return nil }
        let variants = renditions.filter(\.active).compactMap(\.info)
        let videoExpected = renditions.contains { $0.kind == .video && $0.active }
        if variants.isEmpty, !videoExpected, audio != nil {
            return MultivariantPlaylistRenderer.render(variants: [], audio: audio)
        }
        guard !variants.isEmpty else { return nil }
        return MultivariantPlaylistRenderer.render(variants: variants.map { $0.withAudioCodecs(audio) }, audio: audio)
    }
}
