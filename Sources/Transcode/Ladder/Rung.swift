/// One video rendition of a ladder: a target height, frame rate and bitrate for libx264.
public struct Rung: Sendable, Hashable, Codable {
    public enum Profile: String, Sendable, Hashable, Codable {
        case main, high
    }

    /// The rendition's name in playlists, events and the control API (`720p`).
    public var name: String
    public var height: Int
    /// The most frames per second this rung carries; faster sources are thinned on a timestamp grid.
    public var frameRate: Int
    /// Target (and maximum) bitrate in bits per second; the VBV buffer holds two seconds of it.
    public var bitrate: Int
    public var profile: Profile
    /// Overload sheds the rung with the lowest priority first and restarts it last.
    public var priority: Int
    /// x264 preset for this rung; `nil` uses the ladder's.
    public var preset: String?

    public init(
        name: String, height: Int, frameRate: Int, bitrate: Int, profile: Profile = .high,
        priority: Int, preset: String? = nil
    ) {
        self.name = name
        self.height = height
        self.frameRate = frameRate
        self.bitrate = bitrate
        self.profile = profile
        self.priority = priority
        self.preset = preset
    }
}
