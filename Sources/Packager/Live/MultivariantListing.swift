import Media

/// Which renditions the live multivariant playlist lists, decided from each rendition's state.
///
/// A player reads the multivariant playlist once, so whatever it leaves out stays out: a playlist
/// served while a rung's or audio's first segment is still being encoded makes a player that never
/// sees that rung (or is silent) for the whole session. So there is no playlist (the gateway answers
/// 404 with `Retry-After`) until the transcoder has settled which video renditions it will make
/// (`plannedVideo`) and every active one of them, and an active audio rendition, has a complete
/// segment; or until `waitOver`, when whatever is ready is listed: a rung or a source whose audio
/// never produces must not keep the rest off the air.
public struct MultivariantListing: Sendable {
    public struct Rendition: Sendable {
        public var name: String
        public var kind: TrackKind
        /// Set once a video rendition has a complete segment.
        public var info: VariantInfo?
        /// Set once an audio rendition has a complete segment.
        public var audio: AudioRenditionInfo?
        public var active: Bool

        public init(name: String, kind: TrackKind, info: VariantInfo?, audio: AudioRenditionInfo?, active: Bool) {
            self.name = name
            self.kind = kind
            self.info = info
            self.audio = audio
            self.active = active
        }
    }

    public var renditions: [Rendition]
    /// The video renditions the transcoder will make for this source; `nil` until it knows (the
    /// first decoded frame plans the rungs, the first GOP decides the passthrough).
    public var plannedVideo: Set<String>?
    public var waitOver: Bool

    public init(renditions: [Rendition], plannedVideo: Set<String>?, waitOver: Bool) {
        self.renditions = renditions
        self.plannedVideo = plannedVideo
        self.waitOver = waitOver
    }

    /// How long after the session starts the listing waits for a complete ladder: a few segments,
    /// more than a loaded machine's first-segment delay, less than a viewer's patience.
    public static func wait(targetDuration: Int) -> Double { Double(max(4 * targetDuration, 8)) }

    /// Why no playlist can be served yet, or `nil` when `playlist()` has one.
    public var pending: String? {
        let audio = renditions.compactMap(\.audio).first
        let audioPending = audio == nil && renditions.contains { $0.kind == .audio && $0.active }
        if !waitOver {
            if audioPending { return "its audio's first segment is not ready yet" }
            guard let plannedVideo else { return "its ladder is being planned from the first frames" }
            let waiting = plannedVideo.sorted().filter { name in
                guard let rendition = renditions.first(where: { $0.name == name }) else { return true }
                return rendition.active && rendition.info == nil
            }
            if !waiting.isEmpty { return "the first segment of \(waiting.joined(separator: ", ")) is not ready yet" }
        }
        let variants = renditions.filter(\.active).compactMap(\.info)
        let videoExpected = renditions.contains { $0.kind == .video && $0.active }
        if variants.isEmpty, videoExpected || audio == nil { return "its first segment is not ready yet" }
        return nil
    }

    public func playlist() -> String? {
        guard pending == nil else { return nil }
        let audio = renditions.compactMap(\.audio).first
        let variants = renditions.filter(\.active).compactMap(\.info)
        return MultivariantPlaylistRenderer.render(variants: variants.map { $0.withAudioCodecs(audio) }, audio: audio)
    }
}
