import EventStore

/// A publish was refused before any media was accepted.
public struct PublishRejected: DomainEvent, Hashable {
    public static let eventType = "PublishRejected"

    /// `unknown_key`, `revoked_key`, `channel_already_live`, `malformed_request`, `too_many_failed_attempts`, `server_full`.
    public var reason: String
    /// What the encoder was told.
    public var detail: String
    public var remoteAddress: String
    public var `protocol`: String
    public var app: String?
    /// SHA-256 of the key, first 16 hex digits: enough to correlate attempts, never the key.
    public var keyFingerprint: String?
    public var channelID: String?
    /// The channel's name, when the refusal names one: the event is then in `channel-NAME`.
    public var channelName: String?

    public init(
        reason: String, detail: String, remoteAddress: String, protocol: String = "rtmp",
        app: String?, keyFingerprint: String?, channelID: String?, channelName: String? = nil
    ) {
        self.channelName = channelName
        self.reason = reason
        self.detail = detail
        self.remoteAddress = remoteAddress
        self.protocol = `protocol`
        self.app = app
        self.keyFingerprint = keyFingerprint
        self.channelID = channelID
    }
}
