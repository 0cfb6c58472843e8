/// Why the packager cannot package a track or accept its settings.
public struct CMAFError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }

    static func unsupported(_ track: String) -> CMAFError {
        CMAFError(
            "the packager writes H.264 video (with its avcC) and AAC audio (with its AudioSpecificConfig); this track is \(track): transcode it to H.264/AAC"
        )
    }
}
