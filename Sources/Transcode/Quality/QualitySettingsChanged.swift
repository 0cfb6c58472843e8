import EventStore

/// A channel's quality thresholds were set (stream `channel-NAME`); live sessions of the channel use
/// them from their next sample, later sessions from their start.
public struct QualitySettingsChanged: DomainEvent, Hashable {
    public static let eventType = "QualitySettingsChanged"

    public var channelID: String
    public var thresholds: QualityThresholds

    public init(channelID: String, thresholds: QualityThresholds) {
        self.channelID = channelID
        self.thresholds = thresholds
    }
}
