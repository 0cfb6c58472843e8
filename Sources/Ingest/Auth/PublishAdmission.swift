/// A deployment's own say on each publish, asked after the stream key was accepted and before
/// the session starts (`serve --publish-hook`; the node implements it over HTTP). OvenMediaEngine's
/// admission webhooks and SRS's `on_publish` are the same idea: a platform plugs its accounts in.
public protocol PublishAdmission: Sendable {
    func admit(_ request: AdmissionRequest) async -> AdmissionVerdict
}

/// What the hook is told about a publish.
public struct AdmissionRequest: Sendable, Hashable, Codable {
    public var channelID: String
    public var channelName: String
    public var `protocol`: String
    public var remoteAddress: String
    public var app: String

    public init(channelID: String, channelName: String, protocol: String, remoteAddress: String, app: String) {
        self.channelID = channelID
        self.channelName = channelName
        self.protocol = `protocol`
        self.remoteAddress = remoteAddress
        self.app = app
    }
}

public enum AdmissionVerdict: Sendable, Hashable {
    case allowed
    /// Refused, with the reason the encoder and the log are given.
    case refused(String)
}
