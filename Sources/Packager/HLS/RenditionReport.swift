/// `EXT-X-RENDITION-REPORT` of another rendition: where its live edge is, so a player switching to
/// it can ask for the right part at once.
public struct RenditionReport: Sendable, Hashable {
    public var rendition: String
    public var lastMSN: Int
    /// nil when that rendition's newest segment has no parts (LAST-PART is then left out).
    public var lastPart: Int?

    public init(rendition: String, lastMSN: Int, lastPart: Int?) {
        self.rendition = rendition
        self.lastMSN = lastMSN
        self.lastPart = lastPart
    }
}
