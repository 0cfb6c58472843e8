public enum Codec: Sendable, Hashable, Codable, CustomStringConvertible {
    case h264
    case hevc
    case av1
    case vp9
    case aac
    case mp3
    case opus
    case other(String)

    public var description: String {
        switch self {
        case .h264: "h264"
        case .hevc: "hevc"
        case .av1: "av1"
        case .vp9: "vp9"
        case .aac: "aac"
        case .mp3: "mp3"
        case .opus: "opus"
        case .other(let name): name
        }
    }
}
