public enum TrackKind: String, Sendable, Hashable, Codable {
    case video
    case audio
}
