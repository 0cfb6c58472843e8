/// Why the packager refused a playlist input: a configuration, a part or segment out of order, a
/// variant description that would corrupt the playlist. The state is unchanged when one is thrown.
public enum HLSPlaylistError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// A part that is not the next one: parts of a segment come in order from 0, and the first part
    /// of a segment follows the previous segment's completion.
    case unexpectedPart(rendition: String, expectedMSN: Int, expectedIndex: Int, gotMSN: Int, gotIndex: Int)
    case unexpectedSegment(rendition: String, expected: Int, got: Int)
    case invalidDuration(rendition: String, what: String, seconds: Double)
    /// RFC 8216bis §6.2.1: a segment's duration, rounded to whole seconds, must not exceed the target.
    case segmentTooLong(rendition: String, msn: Int, seconds: Double, targetDuration: Int)
    case invalidByteSize(rendition: String, msn: Int, byteSize: Int)
    /// A discontinuity flagged on a segment whose parts were already published without it: the
    /// `EXT-X-DISCONTINUITY` tag would have to be inserted before lines players already have.
    case lateDiscontinuity(rendition: String, msn: Int)
    case ended(rendition: String)
    case invalidVariant(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let reason):
            return "invalid playlist configuration: \(reason)"
        case let .unexpectedPart(rendition, expectedMSN, expectedIndex, gotMSN, gotIndex):
            return
                "rendition \(rendition): got part \(gotIndex) of segment \(gotMSN) but the next part is \(expectedIndex) of segment \(expectedMSN); the cutter must hand parts over in order and complete a segment before starting the next"
        case let .unexpectedSegment(rendition, expected, got):
            return
                "rendition \(rendition): got segment \(got) but the next segment is \(expected); segments must complete in order, each after its own parts"
        case let .invalidDuration(rendition, what, seconds):
            return "rendition \(rendition): \(what) has duration \(seconds) s; durations must be finite and above zero"
        case let .segmentTooLong(rendition, msn, seconds, targetDuration):
            return
                "rendition \(rendition): segment \(msn) lasts \(seconds) s, above the target duration of \(targetDuration) s; cut segments at keyframes no further apart than the target duration, or raise the target duration"
        case let .invalidByteSize(rendition, msn, byteSize):
            return "rendition \(rendition): segment \(msn) has byte size \(byteSize); it must not be negative"
        case let .lateDiscontinuity(rendition, msn):
            return
                "rendition \(rendition): segment \(msn) was flagged discontinuous after its parts were published; announce the discontinuity before the segment's first part"
        case let .ended(rendition):
            return "rendition \(rendition): the playlist already has EXT-X-ENDLIST; start a new playlist state for a new stream"
        case .invalidVariant(let reason):
            return "invalid variant for the multivariant playlist: \(reason)"
        }
    }

    /// Rendition names become URL path components and playlist attribute values.
    static func checkRenditionName(_ name: String) throws(HLSPlaylistError) {
        let allowed = name.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E
        }
        guard !name.isEmpty, name.utf8.count <= 64, allowed, name != ".", name != ".." else {
            throw .invalidConfiguration(
                "rendition name \"\(name.prefix(64))\" must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_' or '.' (it is a URL path component)"
            )
        }
    }

    /// Values written inside a quoted-string attribute may not hold a quote or a line break.
    static func checkQuotable(_ value: String, what: String) throws(HLSPlaylistError) {
        guard !value.isEmpty, !value.contains(where: { $0 == "\"" || $0.isNewline }) else {
            throw .invalidVariant("\(what) \"\(value.prefix(64))\" must be non-empty and hold no double quote or line break")
        }
    }
}
