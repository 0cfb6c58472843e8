/// A channel's rendition ladder: what the transcoder makes of one source. Stored per channel through
/// `LadderConfigured`.
public struct Ladder: Sendable, Hashable, Codable {
    public var rungs: [Rung]
    public var audio: AudioProfile
    /// x264 preset of rungs that do not name their own.
    public var preset: String
    /// IDR spacing, in seconds of presentation time, when the source cannot be passed through.
    public var keyframeInterval: Int
    /// The longest source keyframe spacing, in seconds, for which H.264 sources are passed through.
    public var maxPassthroughKeyframeInterval: Int
    public var allowsPassthrough: Bool
    /// Latency or quality for the encoded rungs; ladders stored before it existed read as the default.
    public var tuning: LadderTuning

    public init(
        rungs: [Rung], audio: AudioProfile = .standard, preset: String = "veryfast",
        keyframeInterval: Int = 2, maxPassthroughKeyframeInterval: Int = 4, allowsPassthrough: Bool = true,
        tuning: LadderTuning = .lowLatency
    ) {
        self.rungs = rungs
        self.audio = audio
        self.preset = preset
        self.keyframeInterval = keyframeInterval
        self.maxPassthroughKeyframeInterval = maxPassthroughKeyframeInterval
        self.allowsPassthrough = allowsPassthrough
        self.tuning = tuning
    }

    enum CodingKeys: String, CodingKey {
        case rungs, audio, preset, keyframeInterval, maxPassthroughKeyframeInterval, allowsPassthrough, tuning
    }

    public init(from decoder: any Swift.Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            rungs: try c.decode([Rung].self, forKey: .rungs), audio: try c.decode(AudioProfile.self, forKey: .audio),
            preset: try c.decode(String.self, forKey: .preset), keyframeInterval: try c.decode(Int.self, forKey: .keyframeInterval),
            maxPassthroughKeyframeInterval: try c.decode(Int.self, forKey: .maxPassthroughKeyframeInterval),
            allowsPassthrough: try c.decode(Bool.self, forKey: .allowsPassthrough),
            tuning: try c.decodeIfPresent(LadderTuning.self, forKey: .tuning) ?? .lowLatency)
    }

    /// The quality presets of DESIGN.md §5. Under overload the highest encoded rung goes first:
    /// 360p is the rendition every viewer can still play.
    public static let `default` = Ladder(rungs: [
        Rung(name: "1080p", height: 1080, frameRate: 30, bitrate: 4_500_000, profile: .high, priority: 0),
        Rung(name: "720p", height: 720, frameRate: 30, bitrate: 2_500_000, profile: .high, priority: 1),
        Rung(name: "480p", height: 480, frameRate: 24, bitrate: 1_200_000, profile: .main, priority: 2),
        Rung(name: "360p", height: 360, frameRate: 24, bitrate: 600_000, profile: .main, priority: 3),
    ])
}
