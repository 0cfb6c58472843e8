/// Which video renditions a quality level keeps (pure): HIGH all; MEDIUM none above 720p (a 1080p
/// passthrough included); LOW ≤ 480p; VERY_LOW ≤ 360p; ERROR audio only. RECOVERY has no set of
/// its own: the level it probes from keeps its set until the probe confirms.
///
/// When a ladder has no rendition short enough for a level (say only 1080p and 720p at VERY_LOW),
/// its shortest one stays on: video stops only in ERROR.
public struct QualityLadderPolicy: Sendable, Hashable {
    /// A video rendition the transcoder can turn on and off: a rung, or the passthrough (`source`).
    public struct Rendition: Sendable, Hashable {
        public var name: String
        public var height: Int

        public init(name: String, height: Int) {
            self.name = name
            self.height = height
        }
    }

    public struct Decision: Sendable, Hashable {
        /// Sorted by name.
        public var enabled: [String]
        public var disabled: [String]
        public var audioOnly: Bool
    }

    public var renditions: [Rendition]

    public init(renditions: [Rendition]) {
        self.renditions = renditions
    }

    /// The ladder's rungs, plus the passthrough `source` at the source's height (unknown: treated
    /// as the tallest, so it is on only in HIGH). A passthrough that replaces a rung carries that
    /// rung's name and height, so it is covered by the rung's entry.
    public init(ladder: Ladder, sourceHeight: Int? = nil) {
        var byName: [String: Int] = ["source": sourceHeight ?? Int.max]
        for rung in ladder.rungs { byName[rung.name] = rung.height }
        renditions = byName.map { Rendition(name: $0.key, height: $0.value) }.sorted { $0.name < $1.name }
    }

    /// The set for `level`; nil for RECOVERY (keep what is on).
    public func decision(for level: QualityState) -> Decision? {
        if level == .recovery { return nil }
        // ERROR keeps VERY_LOW's set underneath audio-only, so leaving ERROR restores it.
        let cap = level == .error ? (QualityState.veryLow.maximumHeight ?? 360) : (level.maximumHeight ?? 0)
        var enabled = Set(renditions.filter { $0.height <= cap }.map(\.name))
        if enabled.isEmpty, let shortest = renditions.min(by: { ($0.height, $0.name) < ($1.height, $1.name) }) {
            enabled.insert(shortest.name)
        }
        let names = Set(renditions.map(\.name))
        return Decision(enabled: enabled.sorted(), disabled: names.subtracting(enabled).sorted(), audioOnly: level == .error)
    }

    /// Applies `level`'s set through the transcoder's control API; RECOVERY changes nothing.
    public func apply(_ level: QualityState, to control: some QualityControl) {
        guard let decision = decision(for: level) else { return }
        for name in decision.disabled { control.setEnabled(false, rendition: name) }
        for name in decision.enabled { control.setEnabled(true, rendition: name) }
        control.setAudioOnly(decision.audioOnly)
    }
}
