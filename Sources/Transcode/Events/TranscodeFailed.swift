import EventStore

/// The transcode of a stream failed (corrupt input, an encoder error); `message` says what to do.
public struct TranscodeFailed: DomainEvent, Hashable {
    public static let eventType = "TranscodeFailed"
    public var channel: String
    /// `configure`, `decode`, `encode` or `input`.
    public var stage: String
    /// The rendition whose encoder failed, when only one did.
    public var rendition: String?
    public var message: String

    public init(channel: String, stage: String, rendition: String? = nil, message: String) {
        self.channel = channel
        self.stage = stage
        self.rendition = rendition
        self.message = message
    }
}
